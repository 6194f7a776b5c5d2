"""Glue that lets one `train.py` run the student's code or the reference, however it is started.

* `package_of(__file__)` makes `cd paper1_world_models && python train.py` behave like
  `python -m paper1_world_models.train`: it puts the repo root on sys.path, imports the package and
  returns its dotted name, to be assigned to `__package__` before the relative imports.
* `load_modules(package, names, use_solution)` is the one `--use-solution` mechanism of every chapter: it
  imports each module from the student's folder, or from `solutions/` when asked (`--use-solution vae,rnn`),
  and wires the picked modules to each other, so a borrowed module really runs inside the student's code.
* `start_run(...)` opens a new run folder, or the folder and checkpoint of `--resume RUN_DIR`.
* `with save_on_ctrl_c(run_dir, save):` around a training loop: Ctrl-C saves, says how to go on (`interrupted`);
  `finish(...)` writes summary.json and says how to evaluate the run.
* `cli(main)` runs a script's main() and turns the two errors a student meets most (an env id that does not
  exist, a template step not written yet) into one sentence instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from .checkpoint import CheckpointError, load_checkpoint
from .config import config_from_dict, save_config
from .envs import UnknownEnvError
from .logger import make_run_dir

ROOT = Path(__file__).resolve().parents[1]


def package_of(file: str) -> str:
    """Dotted package of a chapter file, e.g. 'solutions.paper1_world_models' (imports it)."""
    path = Path(file).resolve()
    if not path.is_relative_to(ROOT):  # two checkouts: the installed `common` is the other one's
        raise SystemExit(f"error: {path.parent} is not in {ROOT}, the checkout whose `common` Python imports; run "
                         "`python -m pip install -e .` in this checkout (or start the script with `python -m` "
                         "from its root).")
    rel = path.parent.relative_to(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    name = ".".join(rel.parts)
    importlib.import_module(name)
    return name


def chapter_name(package: str) -> str:
    """'solutions.paper1_world_models' -> 'paper1_world_models'."""
    return package.split(".")[-1]


def parse_use_solution(text: str | None, known: tuple[str, ...]) -> set[str]:
    """'vae,rnn' -> {'vae', 'rnn'}; 'all' -> every module; an unknown name is one clear sentence."""
    if not text:
        return set()
    names = {t.strip() for t in text.split(",") if t.strip()}
    if names == {"all"}:
        return set(known)
    unknown = sorted(names - set(known))
    if unknown:
        raise SystemExit(f"error: --use-solution got {', '.join(unknown)}; this chapter's modules are "
                         f"{', '.join(known)} (or 'all').")
    return names


def pick(package: str, name: str, use_solution: set[str]) -> ModuleType:
    """Import `name` from the running chapter, or from its reference when `name` is in use_solution."""
    chapter = chapter_name(package)
    if name in use_solution:
        return importlib.import_module(f"solutions.{chapter}.{name}")
    return importlib.import_module(f"{package}.{name}")


def load_modules(package: str, names: tuple[str, ...], use_solution: set[str]) -> dict[str, ModuleType]:
    """{name: module} for a chapter's modules, each the student's or the reference's, wired together.

    A module imports its siblings by name (`from .rssm import RSSM`). After picking, each such name that
    came from a sibling is pointed at the *picked* sibling: with `--use-solution rssm` the student's agent
    runs the reference RSSM, and the reference agent runs the student's networks unless those are
    borrowed too. The wiring is module-global, so it holds for the life of the process.
    """
    chapter = chapter_name(package)
    mods = {name: pick(package, name, use_solution) for name in names}
    picked = {f"{root}{chapter}.{name}": mods[name] for name in names for root in ("solutions.", "")}
    for mod in mods.values():
        for attr, value in list(vars(mod).items()):
            home = picked.get(getattr(value, "__module__", None) or "")
            if home is not None and home is not mod and hasattr(home, attr):
                setattr(mod, attr, getattr(home, attr))
    return mods


def start_run(paper: str, config_cls: type, cfg: Any, resume: str | None,
              out: str | None, minutes: float | None = None) -> tuple[Any, Path, dict | None]:
    """(config, run folder, checkpoint or None) for a new run, or for `--resume RUN_DIR`.

    A resumed run keeps the config it was started with, but for its time budget: `minutes` (the `--minutes`
    flag when it was given, else None) replaces the saved one, so a run its budget stopped can go on. The
    budget counts the whole run, the minutes already spent included. An unreadable checkpoint is one sentence.
    """
    ckpt = None
    if resume:
        run_dir = Path(resume)
        try:
            ckpt = load_checkpoint(run_dir / "checkpoint.pt", paper)
        except CheckpointError as err:
            raise SystemExit(f"error: cannot resume: {err}") from None
        cfg = config_from_dict(config_cls, ckpt["config"])
        if minutes is not None and hasattr(cfg, "minutes"):
            cfg = dataclasses.replace(cfg, minutes=minutes)
    else:
        run_dir = make_run_dir(paper, cfg.env, cfg.seed, out)
    save_config(cfg, run_dir / "config.json")
    return cfg, run_dir, ckpt


def interrupted(run_dir: Path, save: Callable[[], Any]) -> NoReturn:
    """Ctrl-C in a training loop: save, say how to go on, exit 130 (the shell's code for SIGINT)."""
    save()
    print(f"\ninterrupted: saved {Path(run_dir) / 'checkpoint.pt'}; go on with --resume {run_dir}")
    raise SystemExit(130) from None


@contextmanager
def save_on_ctrl_c(run_dir: Path, save: Callable[[], Any]) -> Iterator[None]:
    """`with save_on_ctrl_c(run_dir, run.save): train(...)`: Ctrl-C in the block is `interrupted(run_dir, save)`."""
    try:
        yield
    except KeyboardInterrupt:
        interrupted(run_dir, save)


def finish(run_dir: Path, summary: dict[str, Any], package: str, minutes: float, note: str = "",
           checkpoints: tuple[str, ...] = ("checkpoint.pt",)) -> None:
    """The end of a run: summary.json, then "done in N min" and the eval command of each checkpoint."""
    import json

    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"  python -m {package}.eval --checkpoint {Path(run_dir) / name} --episodes 10" for name in checkpoints]
    print(f"done in {minutes:.1f} min{note}. Evaluate with:\n" + "\n".join(lines))


def cli(main: Callable[[], Any]) -> None:
    """`if __name__ == "__main__": cli(main)`: main(), with one sentence for an unknown env or an unwritten step."""
    try:
        main()
    except UnknownEnvError as err:
        sys.exit(f"error: {err}")
    except NotImplementedError as err:  # a template's TODO, e.g. "TODO(2.8): ..."
        step = re.search(r"TODO\((\d+\.\d+)\)", str(err))
        where = f"IMPLEMENTATION_GUIDE.md §{step.group(1)}" if step else "IMPLEMENTATION_GUIDE.md"
        sys.exit(f"error: a step is not written yet ({err}). Finish it ({where}) or borrow that module from "
                 "the reference with --use-solution NAME (or all).")
