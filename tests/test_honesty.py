"""The graded suites are honest (DESIGN.md §4): for every chapter present, the reference passes every
graded test, and freshly generated templates fail every one of them: failed, not errored, not passed.

Both runs use a fresh copy or `solutions/`, never the student's `paperN_x/`, so a student's work in progress
never affects these checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.templates import generate
from tests.chapters import chapter_params, run_graded


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapter_params())
def test_solution_passes_every_graded_test(chapter: str, tmp_path: Path) -> None:
    run = run_graded(chapter, "solution", tmp_path)
    outcomes = run.outcomes()
    assert outcomes, f"no graded test ran for {chapter}:\n{run.output}"
    wrong = {node: outcome for node, outcome in outcomes.items() if outcome != "passed"}
    assert not wrong, f"the reference does not pass these graded tests: {wrong}\n{run.output}"
    assert run.returncode == 0, run.output


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapter_params())
def test_pristine_templates_fail_every_graded_test(chapter: str, tmp_path: Path) -> None:
    generate_to = tmp_path / "templates"
    generate(Path(__file__).resolve().parents[1], generate_to, papers=[chapter])
    run = run_graded(chapter, generate_to, tmp_path)
    outcomes = run.outcomes()
    assert outcomes, f"no graded test ran for {chapter}:\n{run.output}"
    passed = sorted(node for node, outcome in outcomes.items() if outcome == "passed")
    assert not passed, f"these graded tests pass on the untouched templates (they grade nothing): {passed}"
    other = {node: outcome for node, outcome in outcomes.items() if outcome != "failed"}
    assert not other, (f"on the templates every graded test must fail inside the test body; these did not "
                       f"(an error means a fixture or setup broke): {other}\n{run.output}")
    assert run.returncode == 1, f"pytest exited with {run.returncode} (2 = collection errors):\n{run.output}"
