"""common.logger: run folders, JSON-lines metrics with resume, torn lines, curve plots."""

from __future__ import annotations

import json
import re

import imageio.v2 as imageio
import numpy as np
import torch

from common.logger import RunLogger, make_run_dir, metric, plot_curves, read_metrics


def test_make_run_dir_layout(tmp_path):
    path = make_run_dir("solutions.paper1_world_models", "ALE/Pong-v5", seed=3, root=tmp_path)
    assert path.is_dir() and path.parent == tmp_path / "paper1_world_models" / "ALE-Pong-v5"
    assert re.fullmatch(r"\d{8}-\d{6}-s3", path.name)
    again = make_run_dir("paper1_world_models", "ALE/Pong-v5", seed=3, root=tmp_path)
    assert again != path and again.is_dir()  # same second: a fresh folder, never a shared one
    out = make_run_dir("p", "e", 0, out=tmp_path / "mine" / "run")
    assert out == tmp_path / "mine" / "run" and out.is_dir()


def test_log_writes_json_lines_with_step_wall_and_scalars(tmp_path):
    with RunLogger(tmp_path, total=10, desc="test", enable_bar=False) as log:
        record = log.log(1, loss=torch.tensor(0.5), ret=np.float32(3.0), episodes=np.int64(2))
        log.update(1)
        log.log(2, loss=0.25)
    assert record == {"step": 1, "wall": record["wall"], "loss": 0.5, "ret": 3.0, "episodes": 2}
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    records = read_metrics(tmp_path)
    assert records[1]["loss"] == 0.25 and records[1]["wall"] >= records[0]["wall"] >= 0


def test_resume_appends_and_the_wall_clock_goes_on(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 5, "wall": 100.0, "loss": 1.0}) + "\n")
    with RunLogger(tmp_path, enable_bar=False, initial=5) as log:
        log.log(6, loss=0.9)
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [5, 6]
    assert records[1]["wall"] >= 100.0


def test_bar_shows_the_live_figures(tmp_path, capsys):
    log = RunLogger(tmp_path, total=4, desc="train")
    log.log(1, loss=0.123456)
    log.update(2)
    text = str(log.bar)
    log.close()
    assert "loss=0.1235" in text and "2/4" in text and "train" in text


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n\n{"step": 2, "lo')
    assert read_metrics(path) == [{"step": 1, "loss": 2.0}]


def test_plot_curves_one_panel_per_logged_key(tmp_path):
    records = [{"step": s, "loss": 1.0 / (s + 1), "return": float(s)} for s in range(20)]
    wide = plot_curves(records, ["loss", "return", "never_logged"], tmp_path / "wide.png", title="run")
    assert wide == ["loss", "return"]
    narrow = plot_curves(records, ["loss"], tmp_path / "narrow.png")
    assert narrow == ["loss"]
    a, b = imageio.imread(tmp_path / "wide.png"), imageio.imread(tmp_path / "narrow.png")
    assert a.shape[0] == b.shape[0] and a.shape[1] > 1.8 * b.shape[1]  # two panels side by side
    assert plot_curves(records, ["nothing"], tmp_path / "none.png") == []
    assert not (tmp_path / "none.png").exists()


def test_plot_curves_panels_of_several_keys_in_rows(tmp_path):
    records = [{"step": s, "loss": 1.0 / (s + 1), "eval_a": -s, "eval_b": s} for s in range(20)]
    panels = [("evaluations", ["eval_a", "eval_b", "never_logged"]), "loss", ("empty", ["never_logged"])]
    assert plot_curves(records, panels, tmp_path / "grid.png", ncols=1) == ["evaluations", "loss"]
    assert plot_curves(records, ["loss"], tmp_path / "one.png")
    grid, one = imageio.imread(tmp_path / "grid.png"), imageio.imread(tmp_path / "one.png")
    assert grid.shape[1] == one.shape[1] and grid.shape[0] > 1.8 * one.shape[0]  # two rows of one panel


def test_a_shared_name_reads_its_old_name_in_runs_logged_before_the_rename(tmp_path):
    old = {"step": 1, "eval_planner": -900.0, "episode_return": -1000.0, "value_loss": 2.0}
    assert metric(old, "eval_return") == -900.0 and metric(old, "train_return") == -1000.0
    assert metric(old, "critic_loss") == 2.0 and metric(old, "critic_grad_norm") is None
    assert metric({"eval_return": 1.0, "eval_mean": 2.0}, "eval_return") == 1.0, "the new name comes first"
    records = [old, {"step": 2, "eval_return": -300.0, "critic_loss": 1.0}]  # resumed after the rename
    assert plot_curves(records, [("return", ["eval_return", "train_return"]), "critic_loss"],
                       tmp_path / "curve.png") == ["return", "critic_loss"]


def test_plot_curves_reads_a_metrics_file(tmp_path):
    with RunLogger(tmp_path, enable_bar=False) as log:
        for step in range(5):
            log.log(step, loss=float(5 - step))
    assert plot_curves(tmp_path / "metrics.jsonl", ["loss"], tmp_path / "curve.png", x="wall") == ["loss"]
    assert imageio.imread(tmp_path / "curve.png").ndim == 3


def test_progress_off_a_terminal_prints_plain_lines(monkeypatch):
    """In a nohup log: whole lines at intervals (no carriage-return redraws), the last state included."""
    import io

    import common.logger as logger

    monkeypatch.setattr(logger, "PLAIN_INTERVAL", 0.0)
    out = io.StringIO()
    bar = logger.progress(range(5), desc="pretraining", file=out)
    for _ in bar:
        bar.set_postfix(loss=0.5, refresh=False)
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n"), repr(text)
    lines = text.splitlines()
    assert lines[-1].startswith("pretraining: 100% 5/5") and "loss=0.5" in lines[-1], lines
    assert len(lines) == len(set(lines))  # the close does not repeat the last line
    out = io.StringIO()  # a postfix set every batch (refresh left at tqdm's default) waits for the interval
    monkeypatch.setattr(logger, "PLAIN_INTERVAL", 3600.0)
    bar = logger.progress(range(500), desc="VAE epoch 1/3", file=out)
    for i in bar:
        bar.set_postfix(recon=f"{i:.1f}")
    lines = out.getvalue().splitlines()
    assert len(lines) <= 3 and lines[-1].startswith("VAE epoch 1/3: 100% 500/500"), lines
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    assert not logger.progress(total=3, file=out).disable and logger.is_terminal(tty)
    assert not logger.is_terminal(out)
