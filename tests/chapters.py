"""Which chapters the repo's own checks cover, and how they run a graded suite (a helper, not a test).

A chapter is *present* when `solutions/paperN_x/` has at least one solution region and
`paperN_x/tests/test_*.py` exists; until then the checks that loop over chapters report one skipped item.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.templates import BEGIN, solution_papers
from tests.mutations import Mutation

ROOT = Path(__file__).resolve().parents[1]
_runs = itertools.count()
NO_CHAPTER = ("no chapter yet: no solutions/paperN_x/ has both a solution region and "
              "paperN_x/tests/test_*.py")


def has_region(paper: str, root: Path = ROOT) -> bool:
    return any(BEGIN.match(line) for path in (root / "solutions" / paper).rglob("*.py")
               for line in path.read_text(encoding="utf-8").splitlines())


def chapters(root: Path = ROOT) -> list[str]:
    """The chapters present, in paper order."""
    return [p for p in solution_papers(root)
            if has_region(p, root) and any((root / p / "tests").glob("test_*.py"))]


def params(values: list[Any], ids: list[str], why_none: str = NO_CHAPTER) -> list[Any]:
    """pytest parameters, or one skipped item that says why when there are none."""
    if not values:
        return [pytest.param(None, marks=pytest.mark.skip(reason=why_none), id="none")]
    return [pytest.param(v, id=i) for v, i in zip(values, ids, strict=True)]


def chapter_params() -> list[Any]:
    found = chapters()
    return params(found, found)


def mutations(chapter: str) -> list[Mutation] | None:
    """MUTATIONS of `tests/mutations/<chapter>.py`, or None if the file does not exist."""
    if not (ROOT / "tests" / "mutations" / f"{chapter}.py").is_file():
        return None
    return list(importlib.import_module(f"tests.mutations.{chapter}").MUTATIONS)


@dataclass
class SuiteRun:
    returncode: int
    output: str
    tests: list[dict[str, Any]] = field(default_factory=list)  # the grades file's entries

    def outcomes(self) -> dict[str, str]:
        """{nodeid: passed | failed | error | skipped} of the graded tests."""
        return {t["extra_data"]["nodeid"]: t["extra_data"]["outcome"] for t in self.tests}


def run_graded(chapter: str, target: str | Path, workdir: Path, *extra: str, cwd: Path = ROOT,
               env: dict[str, str] | None = None, timeout: int = 300) -> SuiteRun:
    """Run `pytest <chapter> --target <target>` in a subprocess and read back its grades file."""
    grades = workdir / f"grades-{next(_runs)}.json"
    cmd = [sys.executable, "-m", "pytest", chapter, "--target", str(target), "-q", "-p", "no:randomly",
           "-p", "no:cacheprovider", "--grades-json", str(grades), *extra]
    env = {**(env or os.environ), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # no third-party plugins
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return SuiteRun(-1, f"$ {' '.join(cmd)}\nthe graded suite did not finish in {timeout} s (it "
                            f"should take seconds); output so far:\n{err.stdout or ''}\n{err.stderr or ''}")
    output = f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    tests = json.loads(grades.read_text(encoding="utf-8"))["tests"] if grades.is_file() else []
    return SuiteRun(proc.returncode, output, tests)


def run_many(chapter: str, targets: dict[str, Path], workdir: Path, *extra: str,
             timeout: int = 300) -> dict[str, SuiteRun]:
    """`run_graded` for many targets ({key: folder}); on Linux in one process that forks a child per target
    (tests/suite_runner.py), which saves the seconds of start-up each run would cost."""
    if not targets:
        return {}
    if not sys.platform.startswith("linux"):
        return {key: run_graded(chapter, folder, workdir, *extra, timeout=timeout)
                for key, folder in targets.items()}
    job = workdir / "job.json"
    job.write_text(json.dumps({"chapter": chapter, "workdir": str(workdir), "timeout": timeout, "extra": extra,
                               "targets": {key: str(folder) for key, folder in targets.items()}}))
    proc = subprocess.run([sys.executable, "-m", "tests.suite_runner", str(job)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout * len(targets) + 120)
    assert proc.returncode == 0, f"tests/suite_runner.py failed:\n{proc.stdout}\n{proc.stderr}"
    codes = json.loads((workdir / "results.json").read_text(encoding="utf-8"))
    runs = {}
    for key, code in codes.items():
        grades, log = workdir / f"{key}.json", workdir / f"{key}.log"
        output = f"$ pytest {chapter} --target {targets[key]}\n{log.read_text(errors='replace')}"
        if code == -1:
            output += f"\nthe graded suite did not finish in {timeout} s (it should take seconds)"
        tests = json.loads(grades.read_text(encoding="utf-8"))["tests"] if grades.is_file() else []
        runs[key] = SuiteRun(code, output, tests)
    return runs
