"""Each chapter's train.py (smoke preset) and eval.py run on the real environment, and bad input gets
one clear sentence: an unknown env id, a bad flag, a truncated checkpoint, another paper's checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (ROOT / "solutions").glob("paper*") if (p / "train.py").exists())
pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_sentence(proc: subprocess.CompletedProcess) -> str:
    """The error a user sees: no traceback, a short message on stderr."""
    err = proc.stderr.strip()
    assert proc.returncode != 0, f"expected a failure, got exit 0:\n{proc.stdout[-2000:]}"
    assert "Traceback" not in err, f"expected one clear sentence, got a traceback:\n{err[-3000:]}"
    return err.splitlines()[-1]


@pytest.fixture(scope="module", params=CHAPTERS or [None])
def trained(request, tmp_path_factory) -> tuple[str, Path]:
    """Train the reference with the smoke preset once per chapter; yields (chapter, run_dir)."""
    if request.param is None:
        pytest.skip("no chapter with a train.py yet")
    out = tmp_path_factory.mktemp(request.param)
    proc = run(["-m", f"solutions.{request.param}.train", "--preset", "smoke", "--out", str(out)])
    assert proc.returncode == 0, f"smoke training failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert (out / "checkpoint.pt").exists(), "train.py --preset smoke must leave checkpoint.pt in --out"
    return request.param, out


def test_smoke_train_then_eval(trained) -> None:
    chapter, out = trained
    proc = run(["-m", f"solutions.{chapter}.eval", "--checkpoint", str(out / "checkpoint.pt"), "--episodes", "1"])
    assert proc.returncode == 0, f"eval failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "±" in proc.stdout, f"eval should print mean ± std, printed:\n{proc.stdout[-1000:]}"


def test_dreamer_keeps_its_best_agent_and_films_its_dreams(trained) -> None:
    """Chapter 2 writes best.pt at every new best periodic evaluation; eval.py reads it like checkpoint.pt.
    On Pendulum-v1 from states, training ends with dream.gif and `eval.py --dream` draws one too."""
    chapter, out = trained
    if chapter != "paper2_dreamerv1":
        pytest.skip("best.pt is chapter 2's")
    summary = json.loads((out / "summary.json").read_text())
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["step"] == summary["best_step"] > 0, "best.pt should hold the agent of the best evaluation"
    assert summary["best_eval"] == max(summary["evals"]), "best_eval should be the best periodic evaluation"
    assert (out / "dream.gif").stat().st_size > 0, "training should end with dream.gif (pendulums: real vs model)"
    proc = run(["-m", f"solutions.{chapter}.eval", "--checkpoint", str(out / "best.pt"), "--episodes", "1",
                "--dream"])
    assert proc.returncode == 0, f"eval of best.pt failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert (out / "best_dream.gif").stat().st_size > 0, "eval.py --dream should write best_dream.gif"


def test_template_train_runs_with_the_reference_modules(trained, tmp_path) -> None:
    """The student's train.py, started from inside the folder, with every module taken from solutions/."""
    chapter, _ = trained
    proc = run(["train.py", "--preset", "smoke", "--use-solution", "all", "--out", str(tmp_path)],
               cwd=ROOT / chapter)
    assert proc.returncode == 0, f"{chapter}/train.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert (tmp_path / "checkpoint.pt").exists()


def test_untouched_template_train_says_which_step_to_write(trained, tmp_path) -> None:
    """The student's train.py before any TODO is done: one sentence naming the step and the guide, no traceback."""
    chapter, _ = trained
    line = one_sentence(run(["train.py", "--preset", "smoke", "--out", str(tmp_path)], cwd=ROOT / chapter))
    for words in ("not written yet", "TODO(", "IMPLEMENTATION_GUIDE.md §", "--use-solution"):
        assert words in line, f"the message should say {words!r}, got: {line}"


def test_resume_goes_on_from_a_checkpoint(trained, tmp_path) -> None:
    chapter, out = trained
    proc = run(["-m", f"solutions.{chapter}.train", "--resume", str(out)])
    assert proc.returncode == 0, f"--resume failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("flags, words", [(["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
                                          (["--no-such-flag"], "unrecognized arguments"),
                                          (["--preset", "huge"], "invalid choice")])
def test_bad_training_input_is_one_sentence(trained, flags, words, tmp_path) -> None:
    chapter, _ = trained
    line = one_sentence(run(["-m", f"solutions.{chapter}.train", *flags, "--out", str(tmp_path)]))
    assert words in line, f"the message should name the problem ({words!r}), got: {line}"


def test_truncated_checkpoint_is_one_sentence(trained, tmp_path) -> None:
    chapter, out = trained
    data = (out / "checkpoint.pt").read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    line = one_sentence(run(["-m", f"solutions.{chapter}.eval", "--checkpoint", str(bad), "--episodes", "1"]))
    assert "truncated.pt" in line, f"the message should name the file, got: {line}"


def test_checkpoint_of_another_paper_is_one_sentence(trained, tmp_path) -> None:
    chapter, _ = trained
    other = tmp_path / "other.pt"
    save_checkpoint(other, paper="paper0_other", step=0, config={}, weights=torch.zeros(2))
    line = one_sentence(run(["-m", f"solutions.{chapter}.eval", "--checkpoint", str(other), "--episodes", "1"]))
    assert "paper0_other" in line, f"the message should say which paper saved it, got: {line}"


def test_missing_checkpoint_is_one_sentence(trained, tmp_path) -> None:
    chapter, _ = trained
    line = one_sentence(run(["-m", f"solutions.{chapter}.eval", "--checkpoint", str(tmp_path / "nope.pt")]))
    assert "nope.pt" in line


def test_ctrl_c_keeps_a_checkpoint_that_resumes(trained, tmp_path) -> None:
    """Interrupt a smoke run as soon as its first checkpoint exists; `--resume` must finish it."""
    import signal
    import time

    chapter, _ = trained
    proc = subprocess.Popen([sys.executable, "-m", f"solutions.{chapter}.train", "--preset", "smoke",
                             "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True,  # a shell's background job (nohup ... &) ignores SIGINT: let the run hear it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while not (tmp_path / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the smoke run ended (exit {proc.returncode}) before its first checkpoint could be "
                    f"interrupted; save checkpoints during training:\n{proc.stdout.read()[-2000:]}")
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert (tmp_path / "checkpoint.pt").exists(), "Ctrl-C must leave checkpoint.pt behind"
    assert "Traceback" not in output, f"Ctrl-C should end with a message, not a traceback:\n{output[-3000:]}"
    assert "--resume" in output, f"Ctrl-C should tell how to go on (--resume RUN_DIR):\n{output[-2000:]}"
    resumed = run(["-m", f"solutions.{chapter}.train", "--resume", str(tmp_path)])
    assert resumed.returncode == 0, f"--resume after Ctrl-C failed:\n{resumed.stdout[-2000:]}\n{resumed.stderr[-3000:]}"


def test_world_models_reuses_a_runs_v_and_m_and_saves_the_current_mean(trained, tmp_path) -> None:
    """Chapter 1: `--reuse RUN_DIR` starts at CMA-ES with RUN_DIR's V and M; the checkpoint holds the CMA-ES
    mean of the last generation (not only the last validated one) and cma_curve.png is drawn."""
    chapter, out = trained
    if chapter != "paper1_world_models":
        pytest.skip("--reuse is chapter 1's")
    proc = run(["-m", f"solutions.{chapter}.train", "--preset", "smoke", "--reuse", str(out), "--out", str(tmp_path)])
    assert proc.returncode == 0, f"--reuse failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "starting at CMA-ES" in proc.stdout and not (tmp_path / "data").exists()
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    source = torch.load(out / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(ckpt["vae"][k], source["vae"][k]) for k in source["vae"])
    assert ckpt["controller_mean"].shape == ckpt["controller"].shape and (tmp_path / "cma_curve.png").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["reused"] == str(out)
