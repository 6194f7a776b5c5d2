"""Grading: the pytest plugin behind every graded suite, and the helpers its tests use (DESIGN.md §4).

The root `conftest.py` registers this plugin. From the repo root:

    pytest paper1_world_models                           # grade your code: the folder at the root
    pytest paper1_world_models --target solution         # grade the reference, solutions/paper1_world_models
    pytest paper1_world_models --target DIR              # grade DIR/paper1_world_models (a generated copy)
    pytest paper1_world_models --todo 1.3,1.4            # only the graded tests of these steps
    pytest paper1_world_models --grades-json results.json  # grades for Gradescope
    pytest paper1_world_models --target DIR --reference target   # property checks only (see below)

After a run with graded tests a scoreboard shows one line per step and, for each unfinished step, the
guide section to read. A `NotImplementedError("TODO(p.k)...")` from a template is reported in one line.

`--reference target` makes `reference(...)` return the graded code itself, so every comparison with the
reference compares the target with itself and only the property checks can fail: the repo grades each
listed mistake this way too (tests/test_mutations.py), to show that a bug in `solutions/` would not pass
its own suite.

`--grades-json` writes Gradescope's results.json: one entry per graded test (`score` 1 or 0 of
`max_score` 1, `status`, `output`: the failure, `number` and `extra_data.step`: the step,
`extra_data.outcome`: passed, failed, error or skipped), the total `score`, `execution_time`, and the
scoreboard as `output`.

A graded test (in `paperN_x/tests/test_*.py`):

    @pytest.mark.todo("1.3")
    def test_kl_matches_reference():
        vae, ref = target("paper1_world_models.vae"), reference("paper1_world_models.vae")
        with seeded(0):
            mu, logvar = torch.randn(8, 32), torch.randn(8, 32)
        assert_close(vae.kl(mu, logvar), ref.kl(mu, logvar), step="1.3", what="kl(mu, logvar)")
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import random
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from common.templates import GUIDE, ROOT, guide_sections, step_key

ALIAS = "_graded_target"  # `--target DIR` loads DIR/paperN_x as _graded_target.paperN_x
TODO_ID = re.compile(r"TODO\((\d+\.\d+)\)")

_target = "student"  # "student", "solution", or the folder given to --target
_reference = "solution"  # "solution", or "target": the comparisons then compare the target with itself
_current_step: str | None = None  # the step of the graded test running now


class GradingFailure(AssertionError):
    """A failed check whose message speaks to the student; reported without a traceback."""

    def __init__(self, message: str, step: str | None = None) -> None:
        step = step or _current_step
        super().__init__(f"{message}\n→ {GUIDE} §{step}" if step else message)
        self.step = step


# ---------------------------------------------------------------- what is graded


def use_target(spec: str) -> None:
    """Grade `spec` from now on: 'student', 'solution', or a folder that holds paperN_* packages."""
    global _target
    if spec not in ("student", "solution"):
        folder = Path(spec).expanduser().resolve()
        if folder.name.startswith("paper") and (folder / "__init__.py").is_file():
            folder = folder.parent  # given a chapter folder itself
        if not folder.is_dir():
            raise ValueError(f"--target {spec}: no such folder (give student, solution, or a folder that "
                             "holds paperN_* packages).")
        for name in [m for m in sys.modules if m == ALIAS or m.startswith(ALIAS + ".")]:
            del sys.modules[name]
        module_spec = importlib.machinery.ModuleSpec(ALIAS, None, is_package=True)
        module_spec.submodule_search_locations = [str(folder)]
        sys.modules[ALIAS] = importlib.util.module_from_spec(module_spec)
        spec = str(folder)
    _target = spec


def target(dotted: str) -> ModuleType:
    """Import `dotted` (e.g. "paper1_world_models.vae") from the code being graded (`--target`)."""
    if _target == "student":
        return _import(dotted, f"your folder {dotted.split('.')[0]}/")
    if _target == "solution":
        return reference(dotted)
    return _import(f"{ALIAS}.{dotted}", f"{_target}/")


def reference(dotted: str) -> ModuleType:
    """Import `dotted` from the reference solution (`solutions.<dotted>`), whatever the target
    (with `--reference target`: from the graded code itself, so that only property checks can fail)."""
    dotted = dotted.removeprefix("solutions.")
    if _reference == "target" and _target != "solution":
        return target(dotted)
    return _import(f"solutions.{dotted}", "solutions/")


def _import(name: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and (name == err.name or name.startswith(err.name + ".")):
            module = name.removeprefix(ALIAS + ".").removeprefix("solutions.")
            raise GradingFailure(f"cannot import {module} from {where}: {err}. If the file is gone, "
                                 "`git checkout` it again.") from None
        raise


# ---------------------------------------------------------------- helpers for graded tests


def wired(monkeypatch: pytest.MonkeyPatch, dotted: str, siblings: Sequence[str] = ()) -> ModuleType:
    """Your module `dotted` (e.g. "paper4_dreamerv3.agent"), with the names it imported from its chapter's
    `siblings` (e.g. ("world_model",)) pointed at the reference's, so a mistake in an earlier step does not
    fail this one too."""
    mod = target(dotted)
    for sibling in siblings:
        ref = reference(f"{dotted.split('.')[0]}.{sibling}")
        for name in dir(ref):
            own = getattr(getattr(ref, name), "__module__", "") == ref.__name__
            if not name.startswith("_") and hasattr(mod, name) and own:
                monkeypatch.setattr(mod, name, getattr(ref, name))
    return mod


def borrow(monkeypatch: pytest.MonkeyPatch, dotted: str, names: Sequence[str], cls: str | None = None) -> ModuleType:
    """Your module `dotted` with `names` (functions, or methods of its class `cls`) pointed at the reference's,
    so that a test of one step runs with the reference's version of the other steps of the same file."""
    mod, ref = target(dotted), reference(dotted)
    owner, ref_owner = (mod, ref) if cls is None else (getattr(mod, cls), getattr(ref, cls))
    if owner is not ref_owner:
        for name in names:
            monkeypatch.setattr(owner, name, getattr(ref_owner, name))
    return mod


@contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Seed torch, numpy and random inside the block; restore their previous states after it."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def copy_weights(src: torch.nn.Module, dst: torch.nn.Module, *, step: str | None = None) -> torch.nn.Module:
    """`dst.load_state_dict(src.state_dict())`, with a kind message if the layers do not match."""
    a, b = src.state_dict(), dst.state_dict()
    missing, extra = [k for k in a if k not in b], [k for k in b if k not in a]
    lines = [f"  missing in your {type(dst).__name__}: {', '.join(missing)}"] if missing else []
    lines += [f"  not in the reference: {', '.join(extra)}"] if extra else []
    lines += [f"  {k}: the reference has shape {_shape(a[k])}, yours {_shape(b[k])}"
              for k in a if k in b and a[k].shape != b[k].shape]
    if lines:
        raise GradingFailure(f"cannot copy the reference's weights into your {type(dst).__name__}: the "
                             "template fixes its layers, so keep their names and sizes as the template's "
                             "__init__ builds them.\n" + "\n".join(lines), step)
    dst.load_state_dict(a)
    return dst


def assert_true(cond: Any, message: str, *, step: str) -> None:
    """Fail with `message` (written for the student) unless `cond`."""
    if not cond:
        raise GradingFailure(message, step)


def assert_shape(tensor: Any, shape: Sequence[int | str | None], *, step: str, what: str) -> None:
    """Check `tensor.shape`; a None or a name ("B") in `shape` matches any size."""
    want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
    if not hasattr(tensor, "shape"):
        raise GradingFailure(f"{what}: expected a tensor of shape {want}, got {_describe(tensor)}.", step)
    got = tuple(tensor.shape)
    if len(got) != len(shape) or any(isinstance(s, int) and s != g for s, g in zip(shape, got, strict=False)):
        raise GradingFailure(f"{what}: expected shape {want}, got {_shape(got)}.", step)


def assert_finite(t: Any, *, step: str, what: str) -> None:
    """Check that a tensor, array or number has no NaN or infinity."""
    x = _as_tensor(t)
    if x is None:
        raise GradingFailure(f"{what}: expected numbers, got {_describe(t)}.", step)
    bad = ~torch.isfinite(x)
    if bad.any():
        where = _index(bad.nonzero()[0].tolist()) if x.dim() else ""
        raise GradingFailure(f"{what}: {int(torch.isnan(x).sum())} NaN and {int(torch.isinf(x).sum())} "
                             f"infinite value(s) of {x.numel()}, the first at index {where or '()'}. "
                             "Look for log(0), division by zero, or exp of a large number.", step)


def assert_close(got: Any, expected: Any, *, step: str, what: str, atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """`got` ≈ `expected` elementwise (|got - expected| <= atol + rtol * |expected|), type and shape first.

    Works for torch tensors, numpy arrays and numbers."""
    _check_type(got, expected, step, what)
    g, e = _as_tensor(got), _as_tensor(expected)
    assert g is not None and e is not None
    if isinstance(expected, (int, float, np.generic)) and g.numel() == 1:
        g = g.reshape(())
    if g.shape != e.shape:
        raise GradingFailure(f"{what}: expected shape {_shape(e)}, got {_shape(g)}.", step)
    same = (torch.isnan(g) & torch.isnan(e)) | (g == e)  # equal infinities and NaN where NaN is expected
    err = torch.where(same, torch.zeros_like(g), (g - e).abs()).nan_to_num(nan=float("inf"))
    tol = atol + rtol * torch.where(torch.isfinite(e), e.abs(), torch.zeros_like(e))
    bad = err > tol
    if not bad.any():
        return
    flat = int(err.flatten().argmax())
    idx = np.unravel_index(flat, tuple(g.shape)) if g.dim() else ()
    at = f" at index {_index(idx)}" if g.dim() else ""
    lines = [f"{what}: {int(bad.sum())} of {g.numel()} value(s) differ from the expected ones "
             f"(atol={atol:g}, rtol={rtol:g})."]
    lines.append(f"  largest error {float(err.flatten()[flat]):.4g}{at}: got {_num(g.flatten()[flat])}, "
                 f"expected {_num(e.flatten()[flat])}")
    if g.numel() > 1:
        lines += [f"  got:      {_sample(g)}", f"  expected: {_sample(e)}"]
    if torch.isnan(g).any() and not torch.isnan(e).any():
        lines.append("  Your result has NaN: look for log(0), 0/0, or the square root of a negative number.")
    raise GradingFailure("\n".join(lines), step)


def _check_type(got: Any, expected: Any, step: str, what: str) -> None:
    if got is None:
        raise GradingFailure(f"{what}: got None; did the function forget to `return` its result?", step)
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise GradingFailure(f"{what}: expected a torch.Tensor of shape {_shape(expected)}, "
                                 f"got {_describe(got)}.", step)
        if expected.is_floating_point() and not (got.is_floating_point() or got.is_complex()):
            raise GradingFailure(f"{what}: expected floating-point values ({expected.dtype}), "
                                 f"got {got.dtype}; an integer division or a comparison somewhere?", step)
    elif isinstance(expected, np.ndarray) and not isinstance(got, np.ndarray):
        if expected.ndim or not isinstance(got, (int, float, np.generic)):
            raise GradingFailure(f"{what}: expected a numpy array of shape {_shape(expected)}, "
                                 f"got {_describe(got)}.", step)
    elif isinstance(expected, (int, float, np.generic)):
        if _as_tensor(got) is None or _as_tensor(got).numel() != 1:  # type: ignore[union-attr]
            raise GradingFailure(f"{what}: expected a number, got {_describe(got)}.", step)


def _as_tensor(x: Any) -> torch.Tensor | None:
    """float64 tensor of `x`, or None if `x` holds no numbers."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64)
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError):
        return None


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a torch.Tensor of shape {_shape(x)}"
    if isinstance(x, np.ndarray):
        return f"a numpy array of shape {_shape(x)}"
    return "None" if x is None else f"a {type(x).__name__} ({str(x)[:40]})"


def _shape(x: Any) -> str:
    dims = tuple(x.shape) if hasattr(x, "shape") else tuple(x)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _index(idx: Sequence[Any]) -> str:
    return _shape([int(i) for i in idx])


def _num(x: torch.Tensor) -> str:
    return f"{float(x):.6g}"


def _sample(x: torch.Tensor, n: int = 6) -> str:
    flat = x.flatten()
    return "[" + ", ".join(_num(v) for v in flat[:n]) + (", ...]" if flat.numel() > n else "]")


# ---------------------------------------------------------------- the plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading", "grading a chapter (common/grading.py)")
    group.addoption("--target", default="student",
                    help="what to grade: student (default: paperN_x/ at the root), solution (solutions/), "
                         "or a folder that holds paperN_x packages")
    group.addoption("--reference", default="solution", choices=("solution", "target"),
                    help="what the tests compare with: solution (default), or target: the graded code itself, "
                         "so only the property checks can fail (how the repo checks its own reference)")
    group.addoption("--todo", default=None, help="only the graded tests of these steps, e.g. 1.3,1.4")
    group.addoption("--grades-json", default=None, metavar="PATH",
                    help="write the grades in Gradescope's results.json format")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "todo(step): the guide step (p.k) a graded test grades")
    # Graded tests use tiny tensors: one thread is faster, and two threads thrash on a busy 2-core machine.
    torch.set_num_threads(1)
    global _reference
    _reference = config.getoption("reference")
    try:
        use_target(config.getoption("target"))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    config.pluginmanager.register(Grader(config), "grading-board")


@dataclass
class Result:
    step: str
    name: str
    outcome: str = "passed"  # passed, failed, error (outside the test body) or skipped
    output: str = ""
    not_implemented: bool = False


class Grader:
    """Collects the outcome of every graded test; prints the scoreboard and writes the grades file."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.steps: dict[str, str] = {}  # nodeid -> step, for the graded tests selected
        self.results: dict[str, Result] = {}
        self.collect_errors: list[str] = []
        self.not_implemented: set[str] = set()  # nodeids that failed on a template's NotImplementedError
        self.start = time.time()
        guide = next((p for p in (config.rootpath / GUIDE, ROOT / GUIDE) if p.is_file()), ROOT / GUIDE)
        self.titles = guide_sections(guide)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.start = time.time()

    def title(self, step: str) -> str:
        return f"§{step} {self.titles.get(step, '')}".rstrip()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        wanted = config.getoption("todo")
        wanted = {s.strip() for s in wanted.split(",") if s.strip()} if wanted else None
        keep, drop = [], []
        for item in items:
            mark = item.get_closest_marker("todo")
            step = str(mark.args[0]) if mark and mark.args else None
            if wanted is not None and step not in wanted:
                drop.append(item)
                continue
            keep.append(item)
            if step:
                self.steps[item.nodeid] = step
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        if wanted and not wanted & set(self.steps.values()):
            pytest.exit(f"--todo {config.getoption('todo')}: no graded test here has that step.",
                        returncode=pytest.ExitCode.USAGE_ERROR)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        global _current_step
        _current_step = self.steps.get(item.nodeid)

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        global _current_step
        _current_step = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if call.excinfo is None or not report.failed or self.config.option.tbstyle in ("long", "native"):
            return report
        exc, entry = call.excinfo.value, call.excinfo.traceback[-1]
        step = _todo_step(exc)
        if step:
            where = f"{_relative(Path(entry.path), self.config.rootpath)}:{entry.lineno + 1}, in {entry.name}"
            report.longrepr = (f"not implemented yet — TODO({step}), see {GUIDE} {self.title(step)}\n"
                               f"  (raised in {where})")
            self.not_implemented.add(item.nodeid)
        elif isinstance(exc, GradingFailure):
            frames = [e for e in reversed(call.excinfo.traceback) if Path(e.path) == item.path]
            name = getattr(item, "originalname", item.name)  # the test's own line, not a helper's in its file
            test = next((e for e in frames if e.name == name), frames[0] if frames else entry)
            where = f"{_relative(Path(test.path), self.config.rootpath)}:{test.lineno + 1}"
            report.longrepr = f"{exc}\n  (checked in {where})"
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"could not collect {report.nodeid}:\n{report.longreprtext[-2000:]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        step = self.steps.get(report.nodeid)
        if step is None:
            return
        result = self.results.setdefault(report.nodeid, Result(step, report.nodeid.split("::")[-1]))
        if report.skipped and result.outcome == "passed":
            result.outcome, result.output = "skipped", f"skipped: {report.longrepr}"
        elif report.failed and result.outcome in ("passed", "skipped"):
            result.outcome = "failed" if report.when == "call" else "error"
            result.output = report.longreprtext
            result.not_implemented = report.nodeid in self.not_implemented

    def scoreboard(self) -> list[tuple[str, bool]]:
        """(line, good) pairs: one line per step, the total, then the sections to read."""
        by_step: dict[str, list[Result]] = {}
        for r in self.results.values():
            by_step.setdefault(r.step, []).append(r)
        lines, todo = [], []
        for step in sorted(by_step, key=step_key):
            ran = [r for r in by_step[step] if r.outcome != "skipped"]
            passed = sum(r.outcome == "passed" for r in ran)
            ok = bool(ran) and passed == len(ran)
            note = ""
            if not ok and passed == 0 and ran and all(r.not_implemented for r in ran):
                note = "  (not implemented yet)"
            skipped = len(by_step[step]) - len(ran)
            note += f"  ({skipped} skipped)" if skipped else ""
            title = self.titles.get(step, "")
            line = f"{'✓' if ok else '✗'} {step:<5} {passed:>2}/{len(ran):<2}  {title}{note}"
            lines.append((line.rstrip(), ok))
            if not ok:
                todo.append(step)
        passed = sum(r.outcome == "passed" for r in self.results.values())
        lines.append((f"total: {passed}/{len(self.results)} tests passed, "
                      f"{len(by_step) - len(todo)}/{len(by_step)} steps done", not todo))
        lines += [(f"read {GUIDE} {self.title(step)}", False) for step in todo]
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        terminalreporter.write_sep("=", f"scoreboard (target: {_target}"
                                  + (", property checks only)" if _reference == "target" else ")"))
        for line, good in self.scoreboard():
            terminalreporter.write_line(line, green=good, red=not good)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("grades_json")
        if not path:
            return
        tests = [{"name": f"{r.step} {self.titles.get(r.step, '')}: {r.name}".replace("  ", " "),
                  "number": r.step, "score": float(r.outcome == "passed"), "max_score": 1.0,
                  "status": "passed" if r.outcome == "passed" else "failed", "output": r.output[:4000],
                  "extra_data": {"step": r.step, "nodeid": nodeid, "outcome": r.outcome}}
                 for nodeid, r in self.results.items()]
        output = [line for line, _ in self.scoreboard()] if self.results else ["No graded test ran."]
        grades = {"score": sum(t["score"] for t in tests),
                  "execution_time": round(time.time() - self.start, 2),
                  "output": "\n".join(output + self.collect_errors), "tests": tests}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(grades, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _todo_step(exc: BaseException | None) -> str | None:
    """The step of a template's NotImplementedError("TODO(p.k)..."), also when it caused `exc`."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NotImplementedError) and (m := TODO_ID.search(str(exc))):
            return m.group(1)
        exc = exc.__cause__ or exc.__context__
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
