"""Run folders, metrics as JSON lines, a live progress bar, and learning-curve plots.

    run_dir = make_run_dir("paper1_world_models", "CarRacing-v3", seed=0)
    with RunLogger(run_dir, total=cfg.steps, desc="vae") as log:
        for step in range(cfg.steps):
            ...
            log.log(step, loss=loss.item(), recon=recon.item())  # a line in metrics.jsonl + the bar
            log.update()
    plot_curves(run_dir / "metrics.jsonl", ["loss", "recon"], run_dir / "curve.png")

A resumed run opens the same folder: new lines are appended to metrics.jsonl and the wall clock goes on
from the last line.

Every bar of the course comes from `progress(...)` (RunLogger's too): on a terminal a live tqdm bar; when the
output is not a terminal (`nohup python train.py > log &`, a CI log) plain lines, one every
`PLAIN_INTERVAL` seconds at most and one at the end, instead of carriage-return redraws.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
METRICS = "metrics.jsonl"


def make_run_dir(paper: str, env: str, seed: int, out: str | Path | None = None,
                 root: str | Path | None = None) -> Path:
    """Create and return runs/<paper>/<env>/<YYYYmmdd-HHMMSS>-s<seed>/ (or `out`, exactly, if given).

    `root` defaults to runs/ at the repository root, wherever the script was started from.
    """
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path
    base = Path(root) if root is not None else ROOT / "runs"
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-s{seed}"
    path = base / paper.split(".")[-1] / env.replace("/", "-") / name
    suffix = 1
    while path.exists():  # two runs started within the same second
        path = path.with_name(f"{name}-{suffix}")
        suffix += 1
    path.mkdir(parents=True)
    return path


PLAIN_INTERVAL = float(os.environ.get("WMFS_PROGRESS_INTERVAL", 30))  # seconds between lines off a terminal


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into whole lines (for logs, not terminals)."""

    def __init__(self, stream: Any):
        self.stream, self.last = stream, ""

    def write(self, text: str) -> None:
        line = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text.replace("\r", "")).strip()  # no cursor moves
        if line and line != self.last:  # tqdm redraws the final state on close
            self.stream.write(line + "\n")
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


class _PlainBar(tqdm):
    """tqdm off a terminal: a new postfix waits for the next interval's line instead of printing one at once
    (a bar that sets its postfix every batch would otherwise write a line per batch)."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)


def is_terminal(stream: Any = None) -> bool:
    """Is `stream` (default: stderr, where bars go) an interactive terminal?"""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False


def progress(iterable: Iterable[Any] | None = None, total: int | float | None = None, desc: str | None = None,
             initial: int = 0, disable: bool = False, leave: bool = True, terminal: bool | None = None,
             **kwargs: Any) -> tqdm:
    """A progress bar for one phase: tqdm on a terminal, plain lines at intervals elsewhere.

    terminal: force one form (default: whether stderr is a terminal)."""
    stream = kwargs.pop("file", None) or sys.stderr
    if terminal is None:
        terminal = is_terminal(stream)
    if terminal:
        return tqdm(iterable, total=total, desc=desc, initial=initial, disable=disable, leave=leave,
                    dynamic_ncols=True, file=stream, **kwargs)
    kwargs["position"] = 0  # nested bars are lines of their own here, not rows to move the cursor to
    return _PlainBar(iterable, total=total, desc=desc, initial=initial, disable=disable, leave=True,
                     file=_Lines(stream), mininterval=PLAIN_INTERVAL, maxinterval=PLAIN_INTERVAL * 4, miniters=1,
                     ncols=0, **kwargs)  # ncols=0: the figures without the bar


def _number(value: Any) -> Any:
    """Python numbers from numpy/torch scalars, so that json can write them."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return float(value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


class RunLogger:
    """Appends {"step", "wall", **scalars} lines to run_dir/metrics.jsonl and shows a tqdm bar."""

    def __init__(self, run_dir: str | Path, total: int | None = None, desc: str | None = None,
                 enable_bar: bool = True, initial: int = 0, terminal: bool | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS
        previous = read_metrics(self.path) if self.path.exists() else []
        self._wall_offset = float(previous[-1].get("wall", 0.0)) if previous else 0.0
        self._start = time.perf_counter()
        self._file = self.path.open("a")
        self.bar = progress(total=total, desc=desc, initial=initial, disable=not enable_bar, terminal=terminal)

    def wall(self) -> float:
        """Seconds this run has been going, resumed sessions included."""
        return self._wall_offset + time.perf_counter() - self._start

    def log(self, step: int, **scalars: Any) -> dict[str, Any]:
        """Write one line of metrics and show them on the bar; returns the record."""
        record = {"step": int(step), "wall": round(self.wall(), 3)}
        record.update({key: _number(value) for key, value in scalars.items()})
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.bar.set_postfix({k: _short(v) for k, v in scalars.items()}, refresh=False)
        return record

    def update(self, n: int = 1) -> None:
        """Advance the progress bar by n steps."""
        self.bar.update(n)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        self.bar.write(message)

    def close(self) -> None:
        self.bar.close()
        self._file.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Names some chapters logged before they adopted the shared ones (CONTRIBUTING.md, "Metric names"): 1 `eval_mean`,
# 2 `value_loss` and `value_grad_norm`, 6 `eval_planner` and `episode_return`. Readers look a name up with
# `metric`, so that a run folder logged before the rename (a `--resume`d run's curve, `common.compare extract`)
# still reads.
OLD_NAMES = {"eval_return": ("eval_planner", "eval_mean"), "train_return": ("episode_return",),
             "critic_loss": ("value_loss",), "critic_grad_norm": ("value_grad_norm",)}


def metric_key(record: dict[str, Any], name: str) -> str | None:
    """The key `record` holds `name` under: `name` itself, else an old name of it (OLD_NAMES); None if neither."""
    return next((k for k in (name, *OLD_NAMES.get(name, ())) if record.get(k) is not None), None)


def metric(record: dict[str, Any], name: str) -> Any:
    """record[name], or its value under an old name (OLD_NAMES); None when the record has neither."""
    key = metric_key(record, name)
    return None if key is None else record[key]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (or of the one inside a run folder); a torn last line is skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    records = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a run killed mid-write leaves half a line
                continue
    return records


def plot_curves(metrics: str | Path | Iterable[dict[str, Any]], keys: Sequence[str | tuple[str, Sequence[str]]],
                out_png: str | Path, x: str = "step", title: str | None = None, ncols: int = 0) -> list[str]:
    """One subplot per key against `x`, saved as a PNG; returns the panels drawn.

    A key may also be a panel (name, [key, ...]) that draws several series with a legend. Keys never logged are
    skipped; a shared name also reads its old name (OLD_NAMES). ncols: panels per row (0 = all in one row).
    Series with few points get markers (evaluations).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = read_metrics(metrics) if isinstance(metrics, (str, Path)) else list(metrics)
    panels = [(k, [k]) if isinstance(k, str) else (k[0], list(k[1])) for k in keys]
    panels = [(name, [k for k in ks if any(metric(r, k) is not None for r in records)]) for name, ks in panels]
    panels = [(name, ks) for name, ks in panels if ks]
    if not panels:
        return []
    cols = ncols or len(panels)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for (name, ks), ax in zip(panels, axes[:len(panels)], strict=True):
        for key in ks:
            points = [(r[x], metric(r, key)) for r in records if x in r and metric(r, key) is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], lw=1.2, marker="o" if len(points) <= 30 else None,
                    ms=3, label=key)
        ax.set_xlabel(x)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if len(ks) > 1:
            ax.legend(fontsize=8)
    for ax in axes[len(panels):]:  # the unused cells of the last row
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    return [name for name, _ in panels]
