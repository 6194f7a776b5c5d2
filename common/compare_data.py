"""The inputs of the comparison page (see compare.py): the committed files, the shared tasks, and the numbers
computed from them that both the page (compare_report.py) and its figures (compare_plots.py) use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .curves import Curve, load_curves
from .results import load_results

SHORT = {"paper1_world_models": "World Models", "paper2_dreamerv1": "DreamerV1", "paper3_dreamerv2": "DreamerV2",
         "paper4_dreamerv3": "DreamerV3", "paper5_iris": "IRIS", "paper6_tdmpc2": "TD-MPC2", "paper7_genie": "Genie"}
# (random, human) scores of the Atari 100k tables (Kaiser et al. 2020; IRIS, Micheli et al. 2023, Table 1)
ATARI = {"ALE/Boxing-v5": (0.1, 12.1), "ALE/Breakout-v5": (1.7, 30.5), "ALE/Pong-v5": (-20.7, 14.6)}
PREDICTION_ABOUT = ("Open-loop prediction error per horizon (env steps) on held-out random-action episodes; made by "
                    "`python -m common.compare predict`, see common/prediction.py.")


@dataclass(frozen=True)
class Task:
    key: str
    title: str
    chapters: tuple[str, ...]  # the chapters whose CPU lane is this task
    bar: float | None = None
    bar_note: str = ""

    def matches(self, env: str, obs: str) -> bool:
        if self.key == "atari":
            return env.startswith("ALE/") and obs == "pixels"
        return (env, obs) == tuple(self.key.split(":"))

    @property
    def slug(self) -> str:
        return self.key.replace(":", "_").replace("/", "-").lower()


SHARED = (
    Task("Pendulum-v1:state", "Pendulum-v1 from state vectors", ("paper2_dreamerv1", "paper4_dreamerv3",
         "paper6_tdmpc2"), -250.0, "return >= -250: the bar of chapters 4 and 6 (chapter 2's aim)"),
    Task("CartPole-v1:state", "CartPole-v1 from state vectors", ("paper3_dreamerv2", "paper4_dreamerv3"), 450.0,
         "return >= 450: chapter 4's bar (chapter 3's was 400)"),
    Task("atari", "Atari from pixels", ("paper3_dreamerv2", "paper5_iris"), None,
         "no shared bar: chapter 3 plays Boxing, chapter 5 Breakout, so returns are human-normalised, "
         "(score - random) / (human - random), with the Atari 100k tables' random and human scores"),
)


@dataclass
class Inputs:
    curves: list[Curve]
    results: dict[str, dict[str, Any]]  # paper -> docs/results/<paper>.json
    bench: dict[str, dict[str, Any]]  # paper -> common.bench figures
    prediction: list[dict[str, Any]]  # entries of prediction.json
    ablations: list[Curve] = field(default_factory=list)


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None


def load_inputs(directory: Path) -> Inputs:
    curves = load_curves(directory / "curves")
    results = {r["paper"]: r for r in load_results(directory)}
    bench = {}
    for paper in SHORT:
        for path in (directory / "bench" / f"{paper}_cpu.json", directory / paper / "bench.json"):
            if path.is_file():
                bench[paper] = _json(path)
                break
    pred_path = directory / "comparison" / "prediction.json"
    prediction = _json(pred_path).get("models", []) if pred_path.is_file() else []
    return Inputs([c for c in curves if not c.variant], results, bench, prediction, [c for c in curves if c.variant])


# ---------------------------------------------------------------- numbers
def normalised(curve: Curve) -> list[float] | None:
    """Returns as plotted: raw, or human-normalised for Atari (None for a game without reference scores)."""
    if not curve.env.startswith("ALE/"):
        return curve.eval_return
    if curve.env not in ATARI:
        return None
    low, high = ATARI[curve.env]
    return [(y - low) / (high - low) for y in curve.eval_return]


def aggregate(xs: list[list[float]], ys: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeds' curves on the union of their x: (x, mean, std over the seeds that reach x), linear in between."""
    grid = np.unique(np.concatenate([np.asarray(x, float) for x in xs]))
    rows = np.stack([np.interp(grid, x, y, left=np.nan, right=np.nan) for x, y in zip(xs, ys, strict=True)])
    with np.errstate(invalid="ignore"):
        return grid, np.nanmean(rows, 0), np.nanstd(rows, 0)


def to_bar(curve: Curve, bar: float) -> tuple[float | None, float | None] | None:
    """(env step, wall minutes) of the first evaluation at or above `bar`; None if none is."""
    for step, wall, y in zip(curve.env_step, curve.wall_minutes, curve.eval_return, strict=True):
        if y >= bar:
            return step, wall
    return None


def result_matches(result: dict[str, Any], task: Task) -> bool:
    """Does a chapter's headline result (docs/results/<paper>.json) measure this task?"""
    env = result["env"].split()[0]
    obs = "state" if "(state)" in result["env"] else "pixels"
    return task.matches(env, obs)



def mean_over(entries: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Horizons every entry has and the entries' mean error there; ([], []) if none has `key`."""
    usable = [e for e in entries if e.get(key)]
    if not usable:
        return [], []
    common = sorted(set.intersection(*(set(e["horizon"]) for e in usable)))
    return common, [float(np.mean([e[key][e["horizon"].index(h)] for e in usable])) for h in common]


def seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"
