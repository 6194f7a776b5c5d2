"""common.online: the time budget, `due`, the periodic evaluation that keeps best.pt, the summary figures,
and save_run's replay beside checkpoint.pt only."""

from __future__ import annotations

import json

import numpy as np

from common.checkpoint import load_checkpoint
from common.online import budget_spent, due, eval_summary, record_eval, save_run
from common.replay import EpisodeReplay


class FakeLog:
    """What the helpers use of a RunLogger: log() lines (into metrics.jsonl) and write() lines."""

    def __init__(self, path=None):
        self.records, self.lines, self.path = [], [], path

    def log(self, step, **scalars):
        self.records.append({"step": step, **scalars})
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps({"step": step, **scalars}) + "\n")

    def write(self, message):
        self.lines.append(message)


def counters(**kw):
    return {"env_steps": 0, "updates": 0, "best_eval": -1e9, "best_step": 0, "last_eval": 0, **kw}


def test_budget_spent_only_past_the_budget_and_says_so() -> None:
    log = FakeLog()
    assert not budget_spent(0, 1e9, log), "minutes 0 means no budget"
    assert not budget_spent(2, 119.0, log) and not log.lines
    assert budget_spent(2, 121.0, log)
    assert log.lines[0].startswith("stopping: the 2-minute budget is spent") and "--resume" in log.lines[0]


def test_due_fires_every_n_steps_and_marks_the_step() -> None:
    p = counters()
    fired = []
    for step in range(0, 1001, 100):
        p["env_steps"] = step
        if due(p, "last_eval", 250):
            fired.append(step)
    assert fired == [300, 600, 900], f"every 250 steps on a grid of 100, got {fired}"
    assert p["last_eval"] == 900


def test_record_eval_keeps_the_best_agent_and_always_saves_the_checkpoint() -> None:
    log, saved, p = FakeLog(), [], counters(updates=7)
    save = lambda name="checkpoint.pt": saved.append(name)
    for step, score in [(100, -5.0), (200, 3.0), (300, 1.0)]:
        p["env_steps"] = step
        record_eval(log, p, score, minutes=1.5, save=save)
    assert saved == ["best.pt", "checkpoint.pt", "best.pt", "checkpoint.pt", "checkpoint.pt"]
    assert (p["best_eval"], p["best_step"]) == (3.0, 200)
    assert [r["eval_return"] for r in log.records] == [-5.0, 3.0, 1.0]
    assert log.lines[1] == "step 200: eval return 3.0 (1.5 min, 7 updates)"


def test_eval_summary_lists_every_periodic_evaluation(tmp_path) -> None:
    log, p = FakeLog(tmp_path / "metrics.jsonl"), counters(updates=4)
    log.log(50, train_return=1.0)
    for step, score in [(100, 2.0), (200, 5.0)]:
        p["env_steps"] = step
        record_eval(log, p, score, 0.1, lambda name="checkpoint.pt": None)
    summary = eval_summary(tmp_path, p, final_eval=4.5)
    assert summary == {"env_steps": 200, "updates": 4, "final_eval": 4.5, "best_eval": 5.0, "best_step": 200,
                       "evals": [2.0, 5.0]}
    assert eval_summary(tmp_path / "empty", p, 0.0)["evals"] == [], "no metrics yet: no evaluations"


def test_save_run_puts_the_replay_beside_checkpoint_pt_only(tmp_path) -> None:
    replay = EpisodeReplay(10, (2,), 1)
    save_run(tmp_path, "checkpoint.pt", replay, paper="paper0_test", step=0, config={})
    assert not (tmp_path / "replay.npz").exists(), "an empty replay is not written"
    replay.add(np.zeros(2, np.float32), np.zeros(1, np.float32), 0.0, False, True)
    save_run(tmp_path, "best.pt", replay, paper="paper0_test", step=1, config={})
    assert not (tmp_path / "replay.npz").exists(), "best.pt goes without the replay"
    save_run(tmp_path, "checkpoint.pt", replay, paper="paper0_test", step=2, config={}, weights=np.ones(3))
    assert len(EpisodeReplay.load(tmp_path / "replay.npz", 10)) == 1
    assert load_checkpoint(tmp_path / "checkpoint.pt", "paper0_test")["step"] == 2
    assert load_checkpoint(tmp_path / "best.pt", "paper0_test")["step"] == 1
