"""The grading plugin and helpers (common/grading.py, DESIGN.md §4), on a throwaway chapter in a tmp dir."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.grading import (
    ALIAS,
    GradingFailure,
    assert_close,
    assert_finite,
    assert_shape,
    assert_true,
    borrow,
    copy_weights,
    reference,
    seeded,
    target,
    use_target,
    wired,
)
from tests.demo import DEMO, make_demo_repo, run_pytest

POINTER = "→ IMPLEMENTATION_GUIDE.md §9.1"


def failure(check, *args, **kwargs) -> str:
    with pytest.raises(GradingFailure) as err:
        check(*args, **kwargs)
    text = str(err.value)
    assert text.endswith(POINTER), text
    return text


# ---------------------------------------------------------------- helpers, in process


def test_assert_close_passes_within_tolerance() -> None:
    x = torch.randn(4, 3)
    assert_close(x + 1e-7, x, step="9.1", what="x")
    assert_close(np.float32(0.5), 0.5, step="9.1", what="a number")
    assert_close(torch.tensor(2.0), 2.0, step="9.1", what="a 0-d tensor against a float")
    nan = np.array([1.0, np.nan])
    assert_close(nan, nan.copy(), step="9.1", what="NaN where NaN is expected")


def test_assert_close_says_shape_first() -> None:
    text = failure(assert_close, torch.zeros(8, 64), torch.zeros(8, 32), step="9.1", what="z")
    assert text.startswith("z: expected shape (8, 32), got (8, 64).")


def test_assert_close_says_type_and_dtype() -> None:
    assert "expected a torch.Tensor of shape (3,), got a numpy array of shape (3,)" in failure(
        assert_close, np.zeros(3), torch.zeros(3), step="9.1", what="z")
    assert "expected floating-point values (torch.float32), got torch.int64" in failure(
        assert_close, torch.zeros(3, dtype=torch.long), torch.zeros(3), step="9.1", what="z")
    assert "got None; did the function forget to `return`" in failure(
        assert_close, None, torch.zeros(3), step="9.1", what="z")
    assert "expected a number, got a torch.Tensor of shape (2,)" in failure(
        assert_close, torch.zeros(2), 0.0, step="9.1", what="loss")


def test_assert_close_reports_largest_error_and_values() -> None:
    expected = torch.arange(12.0).reshape(3, 4)
    got = expected.clone()
    got[2, 1] += 0.5
    got[0, 0] += 0.1
    text = failure(assert_close, got, expected, step="9.1", what="logits")
    assert "logits: 2 of 12 value(s) differ" in text
    assert "largest error 0.5 at index (2, 1): got 9.5, expected 9" in text
    assert "got:      [0.1, 1, 2, 3, 4, 5, ...]" in text and "expected: [0, 1, 2, 3, 4, 5, ...]" in text
    text = failure(assert_close, 0.7, 0.5, step="9.1", what="kl")
    assert "largest error 0.2: got 0.7, expected 0.5" in text
    nan = torch.tensor([float("nan")])
    assert "has NaN" in failure(assert_close, nan, torch.ones(1), step="9.1", what="x")


def test_assert_shape_finite_true() -> None:
    assert_shape(torch.zeros(5, 32), ("B", 32), step="9.1", what="z")
    assert_shape(np.zeros((5, 2, 32)), (None, 2, 32), step="9.1", what="z")
    assert "z: expected shape (B, 32), got (5, 64)." in failure(
        assert_shape, torch.zeros(5, 64), ("B", 32), step="9.1", what="z")
    assert "expected a tensor of shape (*, 3), got a float (1.0)" in failure(
        assert_shape, 1.0, (None, 3), step="9.1", what="z")
    assert_finite(torch.ones(3), step="9.1", what="loss")
    assert "1 NaN and 1 infinite value(s) of 4, the first at index (1,)" in failure(
        assert_finite, torch.tensor([0.0, float("nan"), float("inf"), 1.0]), step="9.1", what="loss")
    assert_true(True, "never shown", step="9.1")
    assert failure(assert_true, False, "the loss should fall", step="9.1").startswith("the loss should fall")


def test_copy_weights() -> None:
    src, dst = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    assert torch.equal(copy_weights(src, dst).weight, src.weight)
    text = failure(copy_weights, torch.nn.Linear(3, 2), torch.nn.Linear(2, 3), step="9.1")
    assert "weight: the reference has shape (2, 3), yours (3, 2)" in text
    assert "keep their names and sizes" in text
    text = failure(copy_weights, torch.nn.Sequential(src), dst, step="9.1")
    assert "missing in your Linear: 0.weight, 0.bias" in text and "not in the reference: weight, bias" in text


def test_seeded_is_reproducible_and_restores_state() -> None:
    torch.manual_seed(123)
    after = torch.rand(1)
    torch.manual_seed(123)
    with seeded(7):
        a = torch.randn(3), np.random.rand(), random.random()
    with seeded(7):
        b = torch.randn(3), np.random.rand(), random.random()
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    assert torch.equal(torch.rand(1), after)  # the outer stream goes on as if nothing happened


def test_wired_and_borrow_point_names_at_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = wired(monkeypatch, "paper4_dreamerv3.agent", ("world_model",))
    ref_wm = reference("paper4_dreamerv3.world_model")
    assert agent is target("paper4_dreamerv3.agent")
    assert agent.WorldModel is ref_wm.WorldModel and agent.preprocess_obs is ref_wm.preprocess_obs
    assert agent.imagine is target("paper4_dreamerv3.actor_critic").imagine  # not a listed sibling: untouched
    symlog = borrow(monkeypatch, "paper4_dreamerv3.symlog", ("symexp",))
    assert symlog.symexp is reference("paper4_dreamerv3.symlog").symexp
    monkeypatch.undo()  # the test's end: your own names come back
    assert agent.WorldModel is target("paper4_dreamerv3.world_model").WorldModel


def test_target_folder_loads_under_an_alias(tmp_path: Path) -> None:
    root = make_demo_repo(tmp_path, templates=False)
    try:
        use_target(str(root / "solutions"))
        layers = target(f"{DEMO}.layers")  # relative import of .mathy inside
        assert layers.__name__ == f"{ALIAS}.{DEMO}.layers" and DEMO not in sys.modules
        assert layers.Affine(2)(torch.zeros(1, 2)).shape == (1, 2)
        with pytest.raises(GradingFailure, match="cannot import paper9_demo.missing from"):
            target(f"{DEMO}.missing")
        with pytest.raises(ValueError, match="no such folder"):
            use_target(str(tmp_path / "nowhere"))
    finally:
        use_target("student")


# ---------------------------------------------------------------- the plugin, in a subprocess


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_repo(tmp_path_factory.mktemp("demo"))


@pytest.mark.slow
def test_templates_fail_kindly_with_scoreboard_and_grades(demo: Path) -> None:
    proc = run_pytest(demo, DEMO, "--grades-json", "out/grades.json")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "not implemented yet — TODO(9.1), see IMPLEMENTATION_GUIDE.md §9.1 Doubling" in out
    assert "raise NotImplementedError" not in out and "Traceback" not in out  # no long traceback
    assert "scoreboard (target: student)" in out
    assert "✗ 9.1    0/2   Doubling  (not implemented yet)" in out
    assert "total: 0/3 tests passed, 0/2 steps done" in out
    assert "read IMPLEMENTATION_GUIDE.md §9.2 Affine layer" in out
    grades = json.loads((demo / "out" / "grades.json").read_text(encoding="utf-8"))
    assert {"score", "execution_time", "output", "tests"} <= grades.keys() and grades["score"] == 0
    assert len(grades["tests"]) == 3 and "read IMPLEMENTATION_GUIDE.md" in grades["output"]
    for test in grades["tests"]:
        assert {"name", "score", "max_score", "output", "status"} <= test.keys()
        assert test["status"] == "failed" and test["max_score"] == 1
        assert "not implemented yet" in test["output"]


@pytest.mark.slow
def test_solution_passes_and_todo_selects(demo: Path) -> None:
    proc = run_pytest(demo, DEMO, "--target", "solution", "--todo", "9.2", "--grades-json", "g.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 2 deselected" in proc.stdout and "✓ 9.2    1/1   Affine layer" in proc.stdout
    assert "9.1" not in proc.stdout.split("scoreboard")[1]
    tests = json.loads((demo / "g.json").read_text(encoding="utf-8"))["tests"]
    assert [(t["number"], t["status"], t["score"]) for t in tests] == [("9.2", "passed", 1.0)]


@pytest.mark.slow
def test_mutated_copy_gets_teaching_messages(demo: Path, tmp_path: Path) -> None:
    shutil.copytree(demo / "solutions" / DEMO, tmp_path / DEMO)
    mathy, layers = tmp_path / DEMO / "mathy.py", tmp_path / DEMO / "layers.py"
    mathy.write_text(mathy.read_text().replace("return 2 * x", "return torch.cat([x, x], -1)"))
    layers.write_text(layers.read_text().replace("return double(self.lin(x))", "return self.lin(x)"))
    proc = run_pytest(demo, DEMO, "--target", str(tmp_path))
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "double([1, -2]): expected shape (2,), got (4,).\n→ IMPLEMENTATION_GUIDE.md §9.1" in out
    assert "Affine(4)(x): 8 of 8 value(s) differ" in out and "largest error" in out
    assert f"scoreboard (target: {tmp_path})" in out


@pytest.mark.slow
def test_no_scoreboard_without_graded_tests(demo: Path) -> None:
    proc = run_pytest(demo, "plain")
    assert proc.returncode == 0 and "scoreboard" not in proc.stdout, proc.stdout
    bad = run_pytest(demo, DEMO, "--todo", "9.7")
    assert bad.returncode == 4 and "--todo 9.7: no graded test here has that step" in bad.stdout + bad.stderr
