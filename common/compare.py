"""One measured comparison of the chapters' world models: docs/results/comparison.md and its figures.

Everything comes from committed files, so a clean clone rebuilds the same page:

    docs/results/curves/*.csv               learning curves, each extracted from a finished run (common/curves.py)
    docs/results/comparison/prediction.json open-loop prediction error of checkpoints (common/prediction.py)
    docs/results/<paper>.json               each chapter's headline result (common/results.py)
    docs/results/bench/<paper>_cpu.json     common.bench figures (or docs/results/<paper>/bench.json)

    python -m common.compare                      rewrite comparison.md and the figures in comparison/
    python -m common.compare --check              exit 1 if comparison.md differs from what the files give
    python -m common.compare extract RUN_DIR [--chapter P --env E --obs O --seed S --unfinished]
                                                  add a finished run's curve to docs/results/curves/
    python -m common.compare predict CKPT [CKPT ...] [--episodes 8 --horizon 32]
                                                  measure checkpoints' open-loop error into prediction.json

Where a file is missing the page says "not measured"; it never fills a gap with a guess.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import compare_report as report
from .compare_data import PREDICTION_ABOUT, load_inputs
from .curves import CURVES_DIR, extract, write_curve
from .results import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]


def build(directory: Path = RESULTS_DIR, check: bool = False) -> int:
    """Rewrite (or check) <directory>/comparison.md and, when writing, the figures; returns an exit code."""
    page = directory / "comparison.md"
    try:
        inputs = load_inputs(directory)
        text = report.render(inputs, figures=None if check else directory / "comparison")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if check:
        if not page.exists() or page.read_text() != text:
            print(f"error: {page} is out of date; run `python -m common.compare` to rebuild it.", file=sys.stderr)
            return 1
        print(f"{page} is up to date.")
        return 0
    page.write_text(text)
    print(f"wrote {page} ({len(inputs.curves)} curves, {len(inputs.prediction)} prediction entries).")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    try:
        curve = extract(args.run_dir, args.chapter, args.env, args.obs, args.seed, args.unfinished)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    path = write_curve(curve, args.curves)
    print(f"wrote {path} ({len(curve.eval_return)} evaluations of {curve.chapter} on {curve.env} ({curve.obs}), "
          f"seed {curve.seed}); run `python -m common.compare` to rebuild the page.")
    return 0


def _where(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def cmd_predict(args: argparse.Namespace) -> int:
    from .any_model import open_checkpoint
    from .checkpoint import CheckpointError
    from .prediction import prediction_error

    entries: list[dict[str, Any]] = []
    for path in args.checkpoints:
        try:
            opened = open_checkpoint(path)
            entry = prediction_error(opened, args.episodes, args.hold, args.context, args.horizon, args.stride)
        except (CheckpointError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        entry.update(checkpoint=_where(Path(path)), episodes=args.episodes)
        entries.append(entry)
        print(f"{entry['checkpoint']}: {entry['chapter']} on {entry['env']} ({entry['obs']}), "
              f"{len(entry['horizon'])} horizons up to {entry['horizon'][-1] if entry['horizon'] else 0} env steps")
    old = [] if args.replace or not args.out.exists() else json.loads(args.out.read_text())["models"]
    done = {e["checkpoint"] for e in entries}
    models = sorted([e for e in old if e["checkpoint"] not in done] + entries,
                    key=lambda e: (e["env"], e["obs"], e["chapter"], e["checkpoint"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = ",\n  ".join(json.dumps(e) for e in models)  # one line per checkpoint: short diffs
    args.out.write_text(f'{{\n "about": {json.dumps(PREDICTION_ABOUT)},\n "models": [\n  {rows}\n ]\n}}\n')
    print(f"wrote {args.out} ({len(models)} entries); run `python -m common.compare` to rebuild the page.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if comparison.md is out of date")
    parser.add_argument("--dir", type=Path, default=RESULTS_DIR, help="the results folder (docs/results)")
    sub = parser.add_subparsers(dest="command")
    ex = sub.add_parser("extract", help="keep a finished run's periodic evaluations as a committed curve file")
    ex.add_argument("run_dir", type=Path)
    ex.add_argument("--chapter", help="e.g. paper4_dreamerv3 (default: read from the run's checkpoint)")
    ex.add_argument("--env", help="default: the run's config.json")
    ex.add_argument("--obs", choices=("state", "pixels"), help="default: the run's config.json")
    ex.add_argument("--seed", type=int, help="default: the run's config.json")
    ex.add_argument("--unfinished", action="store_true", help="also a run without summary.json (stopped early)")
    ex.add_argument("--curves", type=Path, default=CURVES_DIR, help="where curve files go")
    pr = sub.add_parser("predict", help="open-loop prediction error of checkpoints on held-out episodes")
    pr.add_argument("checkpoints", nargs="+", type=Path)
    pr.add_argument("--episodes", type=int, default=8)
    pr.add_argument("--horizon", type=int, default=32, help="env steps imagined from each window's start")
    pr.add_argument("--context", type=int, default=4, help="env steps observed before the first window")
    pr.add_argument("--stride", type=int, default=8, help="env steps between window starts")
    pr.add_argument("--hold", type=int, default=None, help="env steps per random action (default: per task)")
    pr.add_argument("--out", type=Path, default=RESULTS_DIR / "comparison" / "prediction.json")
    pr.add_argument("--replace", action="store_true", help="drop the file's other entries")
    args = parser.parse_args(argv)
    if args.command == "extract":
        return cmd_extract(args)
    if args.command == "predict":
        return cmd_predict(args)
    if not args.dir.is_dir():
        print(f"error: {args.dir} is not a folder of results.", file=sys.stderr)
        return 1
    return build(args.dir, args.check)


if __name__ == "__main__":
    sys.exit(main())
