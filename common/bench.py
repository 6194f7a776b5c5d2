"""Time a chapter: seconds per gradient update, milliseconds per acting step, size and memory.

    python -m common.bench paper1_world_models [--preset cpu] [--target student|solution] [--repeats N]
                                               [--set units=400 --set batch=50 ...]

Like `pytest paperN_x`, it times the student's code in paperN_x/ by default; `--target solution` times the
reference in solutions/paperN_x/. The report's first line says which was timed.

A chapter's `train.py` exposes `make_bench(cfg) -> Bench`: two closures that do one unit of work each
(one gradient update of the model being trained; one environment step of the acting agent) and the
modules they use. This tool builds the config from the chapter's `Config` and `PRESETS`, warms up, then
calls each closure many times and reports the median and interquartile range, which a busy 2-core machine
disturbs far less than a mean, and the median CPU time of this process per call, which other jobs on a
shared machine disturb least (at one torch thread it is close to the wall time on a quiet machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import build_config

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Bench:
    """What a chapter's `make_bench(cfg)` returns."""

    update: Callable[[], None]  # one gradient update (sample a batch, forward, backward, step)
    act: Callable[[], None] | None  # one acting step (policy + env.step), or None
    modules: list[nn.Module] = field(default_factory=list)  # for the parameter count
    act_label: str = "acting step"
    note: str = ""
    parts: dict[str, Callable[[], None]] = field(default_factory=dict)  # components of an update, timed alone


def time_calls(fn: Callable[[], None], budget_s: float, repeats: int | None = None,
               min_repeats: int = 5, max_repeats: int = 2000, cpu: list[float] | None = None) -> np.ndarray:
    """Seconds of each call of `fn`: `repeats` calls, or as many as fit in `budget_s` (within the bounds).

    Warms up first (one call, then more for up to a tenth of the budget): first calls pay for memory
    allocation and lazy initialisation.
    """
    fn()
    warm_until = time.perf_counter() + 0.1 * budget_s
    while time.perf_counter() < warm_until:
        fn()
    times: list[float] = []
    stop = time.perf_counter() + budget_s
    while True:
        if repeats is not None:
            if len(times) >= repeats:
                break
        elif len(times) >= max_repeats or (len(times) >= min_repeats and time.perf_counter() > stop):
            break
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        if cpu is not None:  # this process's CPU seconds: what other jobs on a shared machine disturb least
            cpu.append(time.process_time() - start_cpu)
    return np.asarray(times)


def peak_memory_mib() -> float | None:
    """The process's peak resident memory (max RSS) in MiB; None where the OS does not say."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def count_parameters(modules: list[nn.Module]) -> int:
    """Parameters of all modules, each shared tensor counted once."""
    unique = {id(p): p for m in modules for p in m.parameters()}
    return sum(p.numel() for p in unique.values())


def known_chapters() -> list[str]:
    return sorted(p.name for p in (ROOT / "solutions").glob("paper*") if p.is_dir())


def import_chapter(paper: str, target: str) -> tuple[ModuleType, ModuleType]:
    """(config module, train module) of `paper` from solutions/ or the student's folder."""
    package = f"solutions.{paper}" if target == "solution" else paper
    try:
        found = paper.isidentifier() and importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise SystemExit(f"error: there is no chapter {paper!r} ({target}); known chapters are "
                         f"{', '.join(known_chapters()) or 'none yet'}.")
    config = importlib.import_module(f"{package}.config")
    train = importlib.import_module(f"{package}.train")
    if not hasattr(train, "make_bench"):
        raise SystemExit(f"error: {package}.train has no make_bench(cfg), so it cannot be benchmarked "
                         "(see CONTRIBUTING.md).")
    return config, train


def describe_target(paper: str, target: str) -> str:
    """'your code in paper1_world_models/' or 'the reference in solutions/paper1_world_models/'."""
    return f"the reference in solutions/{paper}/" if target == "solution" else f"your code in {paper}/"


def parse_sets(config_cls: type, items: list[str]) -> dict[str, Any]:
    """["units=400", "batch=50"] -> {"units": 400, "batch": 50}, each value of its config field's type."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in fields:
            known = ", ".join(sorted(fields))
            raise SystemExit(f"error: --set {item!r}: expected FIELD=VALUE with FIELD one of {known}.")
        kind = type(getattr(config_cls(), key))
        try:
            out[key] = (text.lower() in ("1", "true", "yes")) if kind is bool else kind(text)
        except ValueError:
            raise SystemExit(f"error: --set {item!r}: {text!r} is not a valid {kind.__name__}.") from None
    return out


def run_bench(paper: str, preset: str = "cpu", target: str = "student", repeats: int | None = None,
              budget_s: float = 20.0, sets: list[str] | None = None) -> dict[str, Any]:
    """Build the chapter's bench and time it; returns the figures as a dict. `sets` ("FIELD=VALUE") change
    the preset's config, e.g. to time a peer implementation's sizes."""
    config, train = import_chapter(paper, target)
    try:
        overrides = parse_sets(config.Config, sets or [])
        cfg = build_config(config.Config, config.PRESETS, preset, overrides)
    except ValueError as err:
        raise SystemExit(f"error: {err}.") from None
    try:
        bench: Bench = train.make_bench(cfg)
        result: dict[str, Any] = _time_bench(bench, budget_s, repeats)
    except NotImplementedError as err:  # a template step not written yet
        other = "--target solution to time the reference" if target == "student" else "another chapter"
        raise SystemExit(f"error: cannot time {describe_target(paper, target)}: a step is not written yet "
                         f"({err}); write it, or use {other}.") from None
    result.update({"paper": paper, "target": target, "preset": preset, "sets": overrides,
                   "timed": describe_target(paper, target)})
    result["parameters"] = count_parameters(bench.modules)
    result["peak_memory_mib"] = peak_memory_mib()
    return result


def _time_bench(bench: Bench, budget_s: float, repeats: int | None) -> dict[str, Any]:
    result: dict[str, Any] = {
"torch_threads": torch.get_num_threads(), "act_label": bench.act_label,
                              "note": bench.note}
    for name, fn in (("update", bench.update), ("act", bench.act)):
        if fn is not None:
            result[name] = _timed(fn, budget_s, repeats)
    if bench.parts:
        result["parts"] = {name: _timed(fn, budget_s / 2, repeats) for name, fn in bench.parts.items()}
    return result


def _timed(fn: Callable[[], None], budget_s: float, repeats: int | None) -> dict[str, Any]:
    cpu: list[float] = []
    times = time_calls(fn, budget_s, repeats, cpu=cpu)
    q25, median, q75 = np.quantile(times, [0.25, 0.5, 0.75])
    return {"median_s": float(median), "q25_s": float(q25), "q75_s": float(q75), "repeats": len(times),
            "cpu_median_s": float(np.median(cpu))}


def format_report(result: dict[str, Any]) -> str:
    """The figures as a few aligned lines."""
    w = max(16, len(result["act_label"]))
    timed = result.get("timed") or describe_target(result["paper"], result["target"])
    sets = "".join(f" --set {k}={v}" for k, v in result.get("sets", {}).items())
    lines = [f"{result['paper']}: timed {timed} (--target {result['target']}), preset {result['preset']}{sets}, "
             f"{result['torch_threads']} torch threads"]
    if "update" in result:
        u = result["update"]
        lines.append(f"  {'gradient update':<{w}} {u['median_s']:.4f} s   "
                     f"(IQR {u['q25_s']:.4f}-{u['q75_s']:.4f} s, {u['repeats']} repeats; "
                     f"CPU time {u['cpu_median_s']:.4f} s)")
    for name, u in result.get("parts", {}).items():
        lines.append(f"    {name:<{w - 2}} {u['median_s']:.4f} s   (IQR {u['q25_s']:.4f}-{u['q75_s']:.4f} s, "
                     f"{u['repeats']} repeats; CPU time {u['cpu_median_s']:.4f} s)")
    if "act" in result:
        a = result["act"]
        lines.append(f"  {result['act_label']:<{w}} {1e3 * a['median_s']:.3f} ms  "
                     f"(IQR {1e3 * a['q25_s']:.3f}-{1e3 * a['q75_s']:.3f} ms, {a['repeats']} repeats; "
                     f"CPU time {1e3 * a['cpu_median_s']:.3f} ms)")
    lines.append(f"  {'parameters':<{w}} {result['parameters']:,}")
    if result["peak_memory_mib"] is not None:
        lines.append(f"  {'peak memory':<{w}} {result['peak_memory_mib']:.0f} MiB (max RSS)")
    if result["note"]:
        lines.append(f"  note: {result['note']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.bench", description=__doc__.splitlines()[0])
    parser.add_argument("paper", help="a chapter, e.g. paper1_world_models")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--target", choices=("student", "solution"), default="student",
                        help="time your code in paperN_x/ (the default, like `pytest paperN_x`) or the reference "
                             "in solutions/")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per figure (default: as many as fit in --budget)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timing per figure")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads first")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one config field of the preset (repeatable), e.g. --set units=400")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    result = run_bench(args.paper, args.preset, args.target, args.repeats, args.budget, args.sets)
    print(format_report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
