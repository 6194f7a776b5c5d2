"""Chapter 7's play.py on a smoke-trained Genie: latent actions given on the command line, or typed one key at a
time (here through a pipe), write a GIF, a strip PNG and the picture of the next frame under every latent action;
nothing opens a window. (tests/test_smoke.py covers train.py and eval.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "paper7_genie"
pytestmark = pytest.mark.slow


def run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          input=stdin)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    if not (ROOT / "solutions" / CHAPTER / "play.py").exists():
        pytest.skip("chapter 7 has no play.py yet")
    out = tmp_path_factory.mktemp("genie")
    proc = run(["-m", f"solutions.{CHAPTER}.train", "--preset", "smoke", "--out", str(out)])
    assert proc.returncode == 0, f"smoke training failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return out / "checkpoint.pt"


def test_play_with_actions_writes_gif_strip_and_action_grid(checkpoint, tmp_path) -> None:
    gif = tmp_path / "out.gif"
    proc = run(["-m", f"solutions.{CHAPTER}.play", "--checkpoint", str(checkpoint), "--actions", "0,3,3,1",
                "--gif", str(gif)])
    assert proc.returncode == 0, f"play.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    for path in (gif, tmp_path / "out.png", tmp_path / "out_actions.png"):
        assert path.stat().st_size > 0, f"play.py should write {path.name}"
    assert "4 generated frames" in proc.stdout, proc.stdout


def test_play_reads_typed_keys(checkpoint, tmp_path) -> None:
    gif = tmp_path / "typed.gif"
    proc = run(["-m", f"solutions.{CHAPTER}.play", "--checkpoint", str(checkpoint), "--gif", str(gif)],
               stdin="0 1\n2x9q3")  # 9 is not an action of the smoke model (|A| = 4); q stops before the 3
    assert proc.returncode == 0, f"play.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "actions 0,1,2 ->" in proc.stdout and "3 generated frames" in proc.stdout, proc.stdout
    assert gif.stat().st_size > 0 and (tmp_path / "typed.png").stat().st_size > 0


def test_play_rejects_an_unknown_action_in_one_sentence(checkpoint, tmp_path) -> None:
    proc = run(["-m", f"solutions.{CHAPTER}.play", "--checkpoint", str(checkpoint), "--actions", "0,7",
                "--gif", str(tmp_path / "bad.gif")])
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "latent actions are 0..3" in proc.stderr.strip().splitlines()[-1], proc.stderr
