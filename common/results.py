"""Measured results: one JSON file per chapter, and the README table made from them.

docs/results/<paper>.json holds (with the page docs/results/<paper>.md beside it):

    paper, title, env, metric        "paper1_world_models", "World Models (Ha & Schmidhuber 2018)", ...
    mean, std, values, seeds         the metric per seed, and its mean and sample std over seeds
    episodes, env_steps              evaluation episodes per seed; environment steps of training per seed
    wall_minutes, cores, command     how long, on how many CPU cores, made by which command
    date, notes                      "2025-01-31", anything a reader should know; `extra` (optional): a dict
    cpu_minutes (optional)           CPU time of one run (time.process_time, the slowest seed); without it the
                                     table says the CPU time was not measured

The README table is the one place that states each chapter's measured run time; other pages link to it.

    python -m common.results           rewrites README.md between <!-- results:start/end --> markers
    python -m common.results --check   exit 1 if the README's table differs from the files
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .stats import format_pm

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "docs" / "results"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
FIELDS = ("paper", "title", "env", "metric", "mean", "std", "values", "seeds", "episodes", "env_steps",
          "wall_minutes", "cores", "command", "date", "notes")


def load_results(directory: str | Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every <paper>.json in `directory`, checked and sorted by paper."""
    results = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None
        missing = [f for f in FIELDS if f not in data]
        if missing:
            raise ValueError(f"{path} lacks the field(s) {', '.join(missing)}.")
        if data["paper"] != path.stem:
            raise ValueError(f"{path} says paper {data['paper']!r}; the file must be named after it.")
        results.append(data)
    return sorted(results, key=lambda r: r["paper"])


def _steps(n: int | float) -> str:
    """1200000 -> '1.2M', 250000 -> '250k'."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}"


def _minutes(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _wall(minutes: float, cores: int) -> str:
    return f"{_minutes(minutes)} on {cores} core{'s' if cores != 1 else ''}"


def _cpu(minutes: float | None) -> str:
    if minutes is None:
        return "not measured"
    return f"{minutes:.1f} min" if minutes < 10 else _minutes(minutes)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_table(results: list[dict[str, Any]], link_dir: str = "docs/results") -> str:
    """The Markdown table of the README (links relative to the repo root)."""
    if not results:
        return "_No measured results yet: each chapter adds docs/results/<paper>.json._"
    lines = ["| chapter | env | metric | result | env steps | wall time | CPU time | details |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        n = len(r["values"])  # one seed has no spread over seeds: no "± 0" that would read as one
        pm = format_pm(r["mean"], r["std"])
        result = f"{pm} ({n} seeds)" if n > 1 else f"{pm.split(' ±')[0]} (1 seed)"
        cells = [r["title"], r["env"], r["metric"], result, _steps(r["env_steps"]),
                 _wall(r["wall_minutes"], r["cores"]), _cpu(r.get("cpu_minutes")),
                 f"[{r['paper']}]({link_dir}/{r['paper']}.md)"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def replace_section(text: str, table: str) -> str:
    """`text` with everything between the results markers replaced by `table`."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {START} ... {END} section for the results table.")
    return text[:start + len(START)] + "\n" + table + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.results",
                                     description="Rewrite (or --check) the README's results table.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README table is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--dir", type=Path, default=RESULTS_DIR, help="folder of the <paper>.json files")
    args = parser.parse_args(argv)
    if not args.readme.exists():
        print(f"error: {args.readme} does not exist.", file=sys.stderr)
        return 1
    text = args.readme.read_text()
    try:
        results = load_results(args.dir)
        new = replace_section(text, render_table(results))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check:
        if new != text:
            print(f"error: the results table in {args.readme} is out of date; run `python -m common.results`"
                  " to rewrite it.", file=sys.stderr)
            return 1
        print("the README's results table is up to date.")
        return 0
    if new != text:
        args.readme.write_text(new)
    print(f"wrote the results table of {len(results)} chapter(s) to {args.readme}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
