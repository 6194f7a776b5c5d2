"""Learning curves as small committed files, so that the cross-chapter comparison builds on a clean clone.

Run folders (runs/, git-ignored) hold the full metrics.jsonl; `extract` keeps the periodic evaluations of one
finished run as docs/results/curves/<chapter>_<env>_<obs>_s<seed>.csv:

    # chapter: paper4_dreamerv3
    # env: CartPole-v1
    # obs: state
    # seed: 1
    # variant:                      (e.g. "ablate twohot"; empty for the chapter's own agent)
    # source: runs/p4_cpu_cartpole_s1/metrics.jsonl (eval_return)
    env_step,wall_minutes,eval_return
    2000,0.0085,26.4
    4000,1.5177,500.0

env_step counts environment steps (action repeats included), as every chapter's `step` does except chapter 1
(which logs generations and keeps env steps in `env_steps`); wall_minutes is the run's own clock; an unknown
value is left empty. eval_return is the mean return of the run's periodic evaluation, as every chapter logs it
(chapter 6: the planner's; chapter 1: the CMA-ES mean's on the validation tracks). A run logged before chapters 1
and 6 adopted the name reads under its old name (`eval_mean`, `eval_planner`: common.logger.OLD_NAMES), which the
source line then names.

    python -m common.compare extract RUN_DIR [--chapter P] [--env E] [--obs O] [--seed S] [--unfinished]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .logger import metric_key, read_metrics

ROOT = Path(__file__).resolve().parents[1]
CURVES_DIR = ROOT / "docs" / "results" / "curves"
HEADER = ("chapter", "env", "obs", "seed", "variant", "source")
COLUMNS = ("env_step", "wall_minutes", "eval_return")
DEFAULT_OBS = {"paper1_world_models": "pixels", "paper5_iris": "pixels", "paper6_tdmpc2": "state"}


@dataclass
class Curve:
    """One run's periodic evaluations; None where a value was not recorded."""

    chapter: str
    env: str
    obs: str
    seed: int
    variant: str = ""
    source: str = ""
    env_step: list[float | None] = field(default_factory=list)
    wall_minutes: list[float | None] = field(default_factory=list)
    eval_return: list[float] = field(default_factory=list)

    @property
    def task(self) -> tuple[str, str]:
        return self.env, self.obs

    def filename(self) -> str:
        variant = "_" + self.variant.replace(" ", "-").replace(",", "+") if self.variant else ""
        return f"{self.chapter}_{self.env.replace('/', '-')}_{self.obs}{variant}_s{self.seed}.csv"


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write_curve(curve: Curve, directory: str | Path = CURVES_DIR) -> Path:
    """Write `curve` as <directory>/<curve.filename()>; returns the path."""
    lines = [f"# {key}: {getattr(curve, key)}".rstrip() for key in HEADER] + [",".join(COLUMNS)]
    for row in zip(curve.env_step, curve.wall_minutes, curve.eval_return, strict=True):
        lines.append(",".join(_cell(v) for v in row))
    path = Path(directory) / curve.filename()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _number(text: str, path: Path) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: {text!r} is not a number.") from None


def read_curve(path: str | Path) -> Curve:
    """The Curve of one file written by `write_curve`."""
    path = Path(path)
    meta: dict[str, str] = {}
    rows: list[list[float | None]] = []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.replace(" ", "") != ",".join(COLUMNS):
            cells = line.split(",")
            if len(cells) != len(COLUMNS):
                raise ValueError(f"{path}: expected {len(COLUMNS)} columns ({', '.join(COLUMNS)}), got {line!r}.")
            rows.append([_number(c, path) for c in cells])
    missing = [k for k in ("chapter", "env", "obs", "seed") if not meta.get(k)]
    if missing:
        raise ValueError(f"{path} lacks the header line(s) {', '.join('# ' + k + ': ...' for k in missing)}.")
    if any(r[2] is None for r in rows):
        raise ValueError(f"{path}: every row needs an eval_return.")
    return Curve(meta["chapter"], meta["env"], meta["obs"], int(meta["seed"]), meta.get("variant", ""),
                 meta.get("source", ""), [r[0] for r in rows], [r[1] for r in rows],
                 [float(r[2]) for r in rows])  # type: ignore[arg-type]


def load_curves(directory: str | Path = CURVES_DIR) -> list[Curve]:
    """Every curve file of `directory`, sorted by file name (none if the folder does not exist)."""
    return [read_curve(p) for p in sorted(Path(directory).glob("*.csv"))]


def _chapter_of(run_dir: Path) -> str | None:
    """The chapter that wrote the run's checkpoint, read from checkpoint.pt or best.pt (None if neither)."""
    import torch

    for name in ("checkpoint.pt", "best.pt"):
        if (run_dir / name).is_file():
            try:
                data = torch.load(run_dir / name, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # a torn checkpoint: the caller asks for --chapter
                continue
            if isinstance(data, dict) and isinstance(data.get("paper"), str):
                return data["paper"]
    return None


def extract(run_dir: str | Path, chapter: str | None = None, env: str | None = None, obs: str | None = None,
            seed: int | None = None, unfinished: bool = False) -> Curve:
    """The periodic evaluations of a run folder as a Curve (see the module docstring)."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise ValueError(f"{run_dir} is not a run folder: it has no metrics.jsonl.")
    if not unfinished and not (run_dir / "summary.json").is_file():
        raise ValueError(f"{run_dir} has no summary.json: the run has not finished (or was stopped); extract it "
                         "when it has, or pass --unfinished.")
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else {}
    chapter = chapter or _chapter_of(run_dir)
    if chapter is None:
        raise ValueError(f"cannot tell which chapter wrote {run_dir} (no readable checkpoint); pass --chapter.")
    env = env or config.get("env")
    obs = obs or config.get("obs") or DEFAULT_OBS.get(chapter)
    seed = seed if seed is not None else config.get("seed")
    if env is None or obs is None or seed is None:
        raise ValueError(f"{run_dir}/config.json does not say the env, obs and seed; pass --env, --obs and --seed.")
    found = [(r, metric_key(r, "eval_return")) for r in read_metrics(run_dir)]  # an old run: its old name
    found = [(r, k) for r, k in found if k and isinstance(r[k], (int, float)) and math.isfinite(r[k])]
    if not found:
        raise ValueError(f"{run_dir}/metrics.jsonl has no periodic evaluation (eval_return) to extract.")
    records = [r for r, _ in found]
    keys = ", ".join(dict.fromkeys(k for _, k in found))  # the names read: eval_return (or an old one)
    steps = [r.get("env_steps") if chapter == "paper1_world_models" else r.get("step") for r in records]
    walls = [r["minutes"] if "minutes" in r else r["wall"] / 60 if "wall" in r else None for r in records]
    variant = f"ablate {config['ablate']}" if config.get("ablate") else ""
    try:
        where = run_dir.resolve().relative_to(ROOT)
    except ValueError:  # a run outside the repository
        where = run_dir
    return Curve(chapter, env, obs, int(seed), variant, f"{where}/metrics.jsonl ({keys})",
                 steps, walls, [float(r[k]) for r, k in found])
