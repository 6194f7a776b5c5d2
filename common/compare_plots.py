"""The figures of the comparison page (see compare.py): returns over seeds, prediction error over horizon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .compare_data import SHORT, Task, aggregate, mean_over, normalised, seeds
from .curves import Curve


def _figure(cols: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * cols, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, cols)


def draw_returns(task: Task, by_chapter: dict[str, list[Curve]], path: Path, title: str = "") -> None:
    """Mean ± std over seeds of each group's curves; a group is a chapter (its name and colour), or any label
    (the ablations of one chapter: the colours go in order)."""
    fig, axes = _figure(2)
    for i, (group, curves) in enumerate(by_chapter.items()):
        hue = color(group) if group in SHORT else f"C{i}"
        for ax, key in ((axes[0], "env_step"), (axes[1], "wall_minutes")):
            pairs = [(c, normalised(c)) for c in curves]
            usable = [(c, y) for c, y in pairs if y is not None and all(v is not None for v in getattr(c, key))]
            if not usable:
                continue
            x, mean, std = aggregate([getattr(c, key) for c, _ in usable], [y for _, y in usable])
            ax.plot(x, mean, color=hue, lw=1.6, label=f"{SHORT.get(group, group)} ({seeds(len(usable))})")
            ax.fill_between(x, mean - std, mean + std, color=hue, alpha=0.2, lw=0)
    ylabel = "human-normalised score" if task.key == "atari" else "evaluation return"
    for ax, xlabel in zip(axes, ("env steps", "wall-clock minutes (the run's own clock)"), strict=True):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if not ax.get_legend_handles_labels()[0]:
            ax.text(0.5, 0.5, "not measured: no curve with this clock", ha="center", transform=ax.transAxes)
            continue
        if task.bar is not None:
            ax.axhline(task.bar, color="gray", ls=":", lw=1, label=f"bar ({task.bar:g})")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title or task.title}: mean ± std over seeds")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def draw_prediction(title: str, groups: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, axes = _figure(2)
    baseline = None
    for paper, entries in groups.items():
        for ax, key in ((axes[0], "obs_mse"), (axes[1], "reward_abs_error")):
            h, mean = mean_over(entries, key)
            if h:
                ax.plot(h, mean, color=color(paper), marker="o", ms=2.5, lw=1.4, label=f"{SHORT.get(paper, paper)} "
                        f"({len(entries)} ckpt)")
        h, mean = mean_over(entries, "copy_obs_mse")
        if h and (baseline is None or len(h) > len(baseline[0])):
            baseline = (h, mean)
    if baseline:
        axes[0].plot(*baseline, color="gray", ls="--", lw=1, label="hold the last observation")
    for ax, key, verb in ((axes[0], "obs_mse", "decode"), (axes[1], "reward_abs_error", "predict rewards")):
        silent = [SHORT.get(p, p) for p, entries in groups.items() if not mean_over(entries, key)[0]]
        if silent:
            ax.text(0.02, 0.02, f"does not {verb}: {', '.join(silent)}", transform=ax.transAxes, fontsize=8)
    for ax, name in zip(axes, ("observation MSE", "reward error per env step"), strict=True):
        ax.set_xlabel("horizon (env steps imagined from the actions alone)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
            if all(min(line.get_ydata()) > 0 for line in ax.lines):  # a zero error has no place on a log axis
                ax.set_yscale("log")
    fig.suptitle(f"{title}: open-loop prediction error")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def color(paper: str) -> str:
    """The same colour for a chapter in every figure."""
    return f"C{list(SHORT).index(paper)}" if paper in SHORT else "k"
