"""Glue of the chapters that learn online (act, store the step, update, evaluate now and then).

* `budget_spent(minutes, seconds, log)`: has the run used its `--minutes` budget? (It says so.)
* `due(progress, "last_eval", every)`: have `every` env steps passed since progress["last_eval"]? (If so, now.)
* `record_eval(log, progress, score, minutes, save)`: one periodic evaluation: a metrics line, a printed line,
  best.pt when the score is the best so far, then checkpoint.pt.
* `eval_summary(run_dir, progress, final_eval)`: the evaluation figures of summary.json.
* `save_run(run_dir, name, replay, **checkpoint)`: checkpoint.pt with the replay beside it, or best.pt alone.

`progress` is the dict of counters a run saves in its checkpoint; these helpers read and write its
"env_steps", "updates", "best_eval" and "best_step".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .checkpoint import save_checkpoint
from .logger import read_metrics


def budget_spent(minutes: float, seconds: float, log: Any) -> bool:
    """Has a run with a budget of `minutes` (0: none) spent it, `seconds` in? Says so on the log when it has."""
    if minutes and seconds > minutes * 60:
        log.write(f"stopping: the {minutes}-minute budget is spent (to go on: --resume RUN_DIR --minutes M, "
                  f"M > {minutes}: it counts the whole run)")
        return True
    return False


def due(progress: dict[str, Any], key: str, every: int) -> bool:
    """Is it time for something done every `every` env steps? When it is, progress[key] becomes this step."""
    if progress["env_steps"] - progress[key] >= every:
        progress[key] = progress["env_steps"]
        return True
    return False


def record_eval(log: Any, progress: dict[str, Any], score: float, minutes: float, save: Callable[..., Any]) -> None:
    """A periodic evaluation's return `score`: logged and printed; save("best.pt") when it beats the best so
    far (late updates can undo a good policy, so the best-evaluated agent is kept), then save() (checkpoint.pt)."""
    step = progress["env_steps"]
    log.log(step, eval_return=score, minutes=minutes)
    log.write(f"step {step}: eval return {score:.1f} ({minutes:.1f} min, {progress['updates']} updates)")
    if score > progress["best_eval"]:
        progress["best_eval"], progress["best_step"] = score, step
        save("best.pt")
    save()


def eval_summary(run_dir: str | Path, progress: dict[str, Any], final_eval: float) -> dict[str, Any]:
    """Counts, the final evaluation, the best periodic one (and its step) and every periodic one, for summary.json."""
    metrics = Path(run_dir) / "metrics.jsonl"
    records = read_metrics(metrics) if metrics.exists() else []
    return {"env_steps": progress["env_steps"], "updates": progress["updates"], "final_eval": final_eval,
            "best_eval": progress["best_eval"], "best_step": progress["best_step"],
            "evals": [r["eval_return"] for r in records if "eval_return" in r]}


def save_run(run_dir: str | Path, name: str, replay: Any, **checkpoint: Any) -> None:
    """Write run_dir/name with common.checkpoint.save_checkpoint(**checkpoint). For checkpoint.pt, the one
    `--resume` reads, the replay goes beside it as replay.npz (when it holds any steps); best.pt, which only
    eval.py reads, is the checkpoint alone."""
    if name == "checkpoint.pt" and len(replay):
        replay.save(Path(run_dir) / "replay.npz")
    save_checkpoint(Path(run_dir) / name, **checkpoint)
