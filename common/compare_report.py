"""The page `python -m common.compare` writes (see compare.py): its Markdown, and the figures it links.

render(inputs, figures) returns the Markdown; with `figures` (a folder) it also draws the PNGs the page links.
The Markdown depends on the committed files only, so `--check` can compare it byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .compare_data import SHARED, SHORT, Inputs, Task, mean_over, normalised, result_matches, seeds, to_bar
from .compare_plots import draw_prediction, draw_returns
from .curves import Curve
from .stats import format_pm

NOT = "not measured"
SHOW_HORIZONS = (4, 16, 32)  # env steps; multiples of every chapter's action repeat (1, 2, 4)


def _k(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k" if n >= 1e3 else f"{n:.3g}"


def _pm(values: list[float]) -> str:
    """'mean ± std' over seeds; one seed has no spread, so just its value."""
    if len(values) == 1:
        return format_pm(values[0], 0.0).split(" ±")[0]
    return format_pm(float(np.mean(values)), float(np.std(values, ddof=1)))


# ---------------------------------------------------------------- the page
def render(inputs: Inputs, figures: Path | None = None) -> str:
    lines = [
        "# The world models compared",
        "",
        "Made by `python -m common.compare` from committed files only (`--check` tells whether this page is up to",
        "date): learning curves in [curves/](curves/) (each extracted from a finished run's metrics.jsonl by",
        "`python -m common.compare extract RUN_DIR`), the open-loop prediction error in",
        "[comparison/prediction.json](comparison/prediction.json) (`python -m common.compare predict CKPT ...`),",
        "each chapter's results file (`<paper>.json`) and `common.bench` figures ([bench/](bench/)). Where a file",
        "is missing, the page says *not measured*. The CPU runs shared a busy 2-core machine, so wall-clock figures",
        "are upper bounds; a curve's source line says which run it came from.",
        "",
    ]
    lines += _task_sections(inputs, figures)
    lines += _chapter_table(inputs)
    lines += _prediction_section(inputs, figures)
    lines += _plan_tables(inputs)
    return "\n".join(lines).rstrip() + "\n"


def _task_curves(inputs: Inputs, task: Task) -> dict[str, list[Curve]]:
    out: dict[str, list[Curve]] = {}
    for c in inputs.curves:
        if task.matches(c.env, c.obs):
            out.setdefault(c.chapter, []).append(c)
    return dict(sorted(out.items()))


def _tasks(inputs: Inputs) -> list[Task]:
    """The shared tasks, then one task per other (env, obs) that has curves."""
    others = sorted({(c.env, c.obs) for c in inputs.curves if not any(t.matches(c.env, c.obs) for t in SHARED)})
    return list(SHARED) + [Task(f"{e}:{o}", f"{e} from {'state vectors' if o == 'state' else 'pixels'}", ())
                           for e, o in others]


def _row(task: Task, paper: str, curves: list[Curve], result: dict[str, Any] | None) -> list[str]:
    cells = [f"{SHORT.get(paper, paper)} ([{paper}]({paper}.md))" if result else SHORT.get(paper, paper)]
    if curves:
        finals = [y[-1] for y in (normalised(c) for c in curves) if y]
        raw = "; ".join(f"{env.split('/')[-1]} {_pm([c.eval_return[-1] for c in curves if c.env == env])}"
                        for env in sorted({c.env for c in curves})) if task.key == "atari" else ""
        cells += [seeds(len(curves)), (_pm(finals) if finals else NOT) + (f" (score: {raw})" if raw else "")]
        if task.bar is not None:
            hits = [h for h in (to_bar(c, task.bar) for c in curves) if h]
            reached = f" ({len(hits)}/{seeds(len(curves))})"
            steps = [h[0] for h in hits if h[0] is not None]
            walls = [h[1] for h in hits if h[1] is not None]
            cells.append(f"{_k(float(np.mean(steps)))}{reached}" if steps else f"not reached{reached}")
            cells.append(f"{np.mean(walls):.1f} min{reached}" if walls else
                         "not reached" if not hits else f"{NOT} (no wall clock in the curves)")
        else:
            cells += ["no bar", "no bar"]
        rates = [c.env_step[-1] / (c.wall_minutes[-1] * 60) for c in curves
                 if c.env_step[-1] is not None and c.wall_minutes[-1]]
        cells.append(f"{np.mean(rates):.0f}" if rates else None)
    else:
        cells += [f"{NOT} (no curve)", NOT, NOT, NOT, None]
    if cells[-1] is None:  # a results file's env steps and minutes may be of different seeds: no rate from them
        cells[-1] = f"{NOT} (no wall clock in the curves)" if curves else NOT
    if result and result_matches(result, task):
        cells.append(f"{format_pm(result['mean'], result['std'])} ({seeds(len(result['values']))}, "
                     f"{_k(result['env_steps'])} env steps, {result['wall_minutes']:.0f} min)")
    else:
        cells.append("—" if result else NOT)
    return cells


def _task_sections(inputs: Inputs, figures: Path | None) -> list[str]:
    lines = ["## Return against env steps and wall time, per task", "",
             "Each curve is a run's own periodic evaluation (mean return of a few episodes; chapter 6: its planner). "
             "*To the bar* is the first evaluation at or above the task's bar, averaged over the seeds that reach it; "
             "*env steps / s* is a run's last evaluated step over its minutes, updates and evaluations included.", ""]
    for task in _tasks(inputs):
        by_chapter = _task_curves(inputs, task)
        chapters = list(dict.fromkeys([*task.chapters, *by_chapter]))
        lines += [f"### {task.title}", ""]
        if task.bar_note:
            lines += [f"Bar: {task.bar_note}.", ""]
        if by_chapter:
            name = f"comparison/returns_{task.slug}.png"
            if figures is not None:
                draw_returns(task, by_chapter, figures / Path(name).name)
            lines += [f"![{task.title}: return against env steps and wall time]({name})", ""]
        else:
            lines += [f"No curve of this task yet: {NOT}.", ""]
        lines += ["| chapter | curves | last evaluation (mean ± std over seeds) | env steps to the bar | wall time to "
                  "the bar | env steps / s | results file (its own metric) |", "|---|---|---|---|---|---|---|"]
        for paper in chapters:
            lines.append("| " + " | ".join(_row(task, paper, by_chapter.get(paper, []),
                                                inputs.results.get(paper))) + " |")
        lines.append("")
        lines += _ablations(inputs, task, by_chapter, figures)
    return lines


def _ablations(inputs: Inputs, task: Task, by_chapter: dict[str, list[Curve]], figures: Path | None) -> list[str]:
    """Per chapter with ablation curves on `task`: the full method beside each trick switched off."""
    variants: dict[str, dict[str, list[Curve]]] = {}
    for c in inputs.ablations:
        if task.matches(c.env, c.obs):
            variants.setdefault(c.chapter, {}).setdefault(c.variant, []).append(c)
    lines: list[str] = []
    for paper, groups in sorted(variants.items()):
        groups = {"full method": by_chapter.get(paper, []), **dict(sorted(groups.items()))}
        name = f"comparison/ablations_{paper}_{task.slug}.png"
        if figures is not None:
            draw_returns(task, groups, figures / Path(name).name, f"{SHORT.get(paper, paper)} on {task.title}")
        lines += [f"#### {SHORT.get(paper, paper)}: ablations on this task ([{paper}]({paper}.md) discusses them)", "",
                  f"![{SHORT.get(paper, paper)} ablations on {task.title}]({name})", "",
                  "| variant | curves | last evaluation (mean ± std over seeds) | env steps to the bar |",
                  "|---|---|---|---|"]
        for label, curves in groups.items():
            if not curves:
                lines.append(f"| {label} | {NOT} (no curve) | {NOT} | {NOT} |")
                continue
            finals = [y[-1] for y in (normalised(c) for c in curves) if y]
            hits = [h for h in (to_bar(c, task.bar) for c in curves) if h] if task.bar is not None else []
            steps = [h[0] for h in hits if h[0] is not None]
            reach = (f"{_k(float(np.mean(steps)))} ({len(hits)}/{seeds(len(curves))})" if steps else
                     "no bar" if task.bar is None else f"not reached (0/{seeds(len(curves))})")
            lines.append(f"| {label} | {seeds(len(curves))} | {_pm(finals) if finals else NOT} | {reach} |")
        lines.append("")
    return lines


def _cpu_ms(figures: dict[str, float]) -> str:
    return f"; {1e3 * figures['cpu_median_s']:.2f}" if "cpu_median_s" in figures else ""


def _chapter_table(inputs: Inputs) -> list[str]:
    lines = ["## Per chapter: size and speed (`common.bench`, the `cpu` preset)", "",
             "| chapter | parameters | s per gradient update (median; CPU s) | acting step (median; CPU) | threads |",
             "|---|---|---|---|---|"]
    for paper in SHORT:
        b = inputs.bench.get(paper)
        if b is None:
            cells = [NOT] * 4
        else:
            u, a = b.get("update", {}), b.get("act", {})
            cpu = f"; {u['cpu_median_s']:.3f}" if "cpu_median_s" in u else ""
            cells = [f"{b['parameters']:,}", f"{u['median_s']:.3f}{cpu}" if u else NOT,
                     f"{1e3 * a['median_s']:.2f}{_cpu_ms(a)} ms ({b.get('act_label', 'acting step')})" if a else NOT,
                     str(b.get("torch_threads", "?"))]
        lines.append(f"| {SHORT[paper]} | " + " | ".join(cells) + " |")
    lines += ["", "A missing row is measured with `python -m common.bench PAPER --target solution --threads 1 "
              "--json docs/results/bench/PAPER_cpu.json`. The machine was shared with training runs, so the CPU "
              "seconds (this process's own time) are the steadier figure.", ""]
    return lines


def _prediction_section(inputs: Inputs, figures: Path | None) -> list[str]:
    lines = ["## Open-loop prediction error against horizon", "",
             "Each model watches the first env steps of the same held-out episodes (random actions, seeds "
             "3,000,000 + i), then imagines ahead from the actions alone, through `common.world_model`'s protocol "
             "([common/prediction.py](../../common/prediction.py)). Observation error: MSE per number (state "
             "vectors in the env's units, images in [0, 1]); reward error: absolute error per env step. Measured "
             "with `python -m common.compare predict CKPT [CKPT ...]`.", ""]
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for e in inputs.prediction:
        groups.setdefault((e["env"], e["obs"]), {}).setdefault(e["chapter"], []).append(e)
    if not groups:
        return lines + [f"No checkpoint has been measured yet: {NOT}.", ""]
    for (env, obs), by_chapter in sorted(groups.items()):
        title = f"{env} ({obs})"
        name = f"comparison/prediction_{env.replace('/', '-').lower()}_{obs}.png"
        if figures is not None:
            draw_prediction(title, by_chapter, figures / Path(name).name)
        heads = " | ".join(f"obs MSE at {h}" for h in SHOW_HORIZONS) + " | " + " | ".join(
            f"reward error at {h}" for h in SHOW_HORIZONS)
        lines += [f"### {title}", "", f"![{title}: prediction error against horizon]({name})", "",
                  f"| model | checkpoints (trained env steps) | {heads} |", "|---|---|" + "---|" * 6]
        baseline = None
        for paper, entries in by_chapter.items():
            steps = ", ".join(_k(e["trained_env_steps"]) for e in entries)
            cells = [_at(entries, key, h) for key in ("obs_mse", "reward_abs_error") for h in SHOW_HORIZONS]
            lines.append(f"| {SHORT.get(paper, paper)} | {len(entries)} ({steps}) | " + " | ".join(cells) + " |")
            baseline = baseline or entries
        copy = [_at(baseline or [], "copy_obs_mse", h) for h in SHOW_HORIZONS]
        lines += ["| hold the last observation | — | " + " | ".join(copy) + " | — | — | — |", ""]
    return lines


def _at(entries: list[dict[str, Any]], key: str, h: int) -> str:
    hs, mean = mean_over(entries, key)
    if not any(e.get(key) for e in entries):
        return "does not predict it" if entries and key != "copy_obs_mse" else NOT
    return f"{mean[hs.index(h)]:.3g}" if h in hs else "—"


# ---------------------------------------------------------------- the curriculum plan's table
PLAN_COLUMNS = ("paper1_world_models", "paper2_dreamerv1", "paper3_dreamerv2", "paper4_dreamerv3", "paper5_iris",
                "paper6_tdmpc2", "paper7_genie")
PLAN = {  # the plan's "Comparison of Approaches" (shared/seeds/004), plus TD-MPC2 and Genie added here
    "Representation": ("Continuous", "Continuous", "Discrete", "Discrete", "Discrete", "Continuous (SimNorm)*",
                       "Discrete*"),
    "Architecture": ("VAE+RNN", "RSSM", "RSSM", "RSSM", "Transformer", "MLPs, no decoder*", "ST-transformer*"),
    "Training": ("Separate", "End-to-end", "End-to-end", "End-to-end", "End-to-end", "End-to-end*", "Staged*"),
    "Policy Learning": ("Evolution", "Actor-Critic", "Actor-Critic", "Actor-Critic", "Actor-Critic",
                        "Planning (MPPI) + policy prior*", "None: a playable model*"),
    "Sample Efficiency": ("Low", "High", "Higher", "Highest", "High", "—", "—"),
    "Domains": ("Simple envs", "DMC", "Atari", "All", "Atari", "Continuous control*", "2D platformer videos*"),
    "Complexity": ("Low", "Medium", "High", "Medium", "High", "—", "—"),
}


def _measured_row(feature: str, inputs: Inputs, paper: str) -> str:
    if feature in ("Representation", "Architecture", "Training", "Policy Learning"):
        return f"design ([code](../../solutions/{paper}/))"
    if feature == "Sample Efficiency":
        cells = []
        for task in SHARED:
            curves = _task_curves(inputs, task).get(paper, [])
            if curves and task.bar is not None:
                hits = [h[0] for h in (to_bar(c, task.bar) for c in curves) if h and h[0] is not None]
                when = f"{_k(float(np.mean(hits)))} steps" if hits else "not reached"
                cells.append(f"{task.key.split('-')[0]}: {when} to the bar ({len(hits)}/{seeds(len(curves))})")
        return "; ".join(cells) + " (first table)" if cells else NOT
    if feature == "Domains":
        tasks = {f"{c.env} ({c.obs})" for c in inputs.curves if c.chapter == paper}
        if paper in inputs.results:
            tasks.add(inputs.results[paper]["env"])
        return ", ".join(sorted(tasks)) + " (tables above)" if tasks else NOT
    b = inputs.bench.get(paper)  # Complexity
    if b is None:
        return NOT
    update = b.get("update", {})
    if not update:
        return f"{_k(b['parameters'])} parameters (bench)"
    kind = "CPU s" if "cpu_median_s" in update else "s"
    return f"{_k(b['parameters'])} parameters, {update.get('cpu_median_s', update['median_s']):.3g} {kind} per update"


def _plan_tables(inputs: Inputs) -> list[str]:
    head = "| | " + " | ".join(SHORT[p] for p in PLAN_COLUMNS) + " |"
    rule = "|---" * (len(PLAN_COLUMNS) + 1) + "|"
    lines = ["## The curriculum plan's comparison, and what was measured", "",
             "The plan's qualitative table (columns marked * are added here; the plan covers five papers):", "",
             head, rule]
    lines += [f"| **{k}** | " + " | ".join(v) + " |" for k, v in PLAN.items()]
    lines += ["", "What this repository measured for each row: a figure of the tables above, *not measured*, or, for "
              "the rows that describe a design, the code that implements it:", "", head, rule]
    lines += [f"| **{k}** | " + " | ".join(_measured_row(k, inputs, p) for p in PLAN_COLUMNS) + " |" for k in PLAN]
    return lines + [""]

