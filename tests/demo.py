"""A throwaway chapter, `paper9_demo`, written into a tmp dir for the tests of the generator and the
grading plugin (a helper, not a test). It is a miniature repo: solutions/, generated templates, a graded
suite, a guide, and a conftest that registers common.grading, as at the real root."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from common.templates import generate

ROOT = Path(__file__).resolve().parents[1]
DEMO = "paper9_demo"

MATHY = '''\
"""Step 9.1 of a throwaway chapter."""

import torch


def double(x: torch.Tensor) -> torch.Tensor:
    """2 * x, same shape."""
    # TODO(9.1): multiply every entry by two. Any way works.
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION
'''

LAYERS = '''\
"""Step 9.2: a layer that uses step 9.1 through a relative import."""

import torch
from torch import nn

from .mathy import double


class Affine(nn.Module):
    def __init__(self, n: int = 4) -> None:
        super().__init__()
        self.lin = nn.Linear(n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, n) -> (B, n)
        # TODO(9.2): apply the linear layer,
        # then double the result with double() from step 9.1.
        # BEGIN SOLUTION
        return double(self.lin(x))
        # END SOLUTION
'''

TESTS = '''\
import pytest
import torch

from common.grading import assert_close, assert_shape, copy_weights, reference, seeded, target


@pytest.mark.todo("9.1")
def test_double_known_value():
    got = target("paper9_demo.mathy").double(torch.tensor([1.0, -2.0]))
    assert_close(got, torch.tensor([2.0, -4.0]), step="9.1", what="double([1, -2])")


@pytest.mark.todo("9.1")
def test_double_matches_reference():
    with seeded(0):
        x = torch.randn(3, 5)
    got = target("paper9_demo.mathy").double(x)
    assert_shape(got, ("B", 5), step="9.1", what="double(x) for x of shape (3, 5)")
    assert_close(got, reference("paper9_demo.mathy").double(x), step="9.1", what="double(x)")


@pytest.mark.todo("9.2")
def test_affine_matches_reference():
    mine, ref = target("paper9_demo.layers").Affine(4), reference("paper9_demo.layers").Affine(4)
    copy_weights(ref, mine)
    with seeded(1):
        x = torch.randn(2, 4)
    assert_close(mine(x), ref(x), step="9.2", what="Affine(4)(x)")
'''

PLAIN = '''\
def test_not_graded():
    assert True
'''

GUIDE = '''\
# Implementation guide

## Paper 9 — Demo

### 9.1 Doubling

Multiply by two.

### 9.2 Affine layer

A linear layer, then double.

> **Common mistakes**
> - `forgot-double`: returning the linear layer's output as it is.
'''

FILES = {
    "solutions/__init__.py": "",
    f"solutions/{DEMO}/__init__.py": '"""A throwaway chapter."""\n',
    f"solutions/{DEMO}/mathy.py": MATHY,
    f"solutions/{DEMO}/layers.py": LAYERS,
    f"{DEMO}/tests/test_demo.py": TESTS,
    "plain/test_plain.py": PLAIN,
    "IMPLEMENTATION_GUIDE.md": GUIDE,
    "conftest.py": 'pytest_plugins = ["common.grading"]\n',
    "pytest.ini": "[pytest]\naddopts = --import-mode=importlib -p no:cacheprovider\n",
}
DATA = bytes(range(256)) * 4  # a binary file, copied byte for byte


def make_demo_repo(root: Path, templates: bool = True) -> Path:
    """Write the demo repo into `root` (and its templates, unless templates=False); return `root`."""
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "solutions" / DEMO / "data.bin").write_bytes(DATA)
    if templates:
        generate(root, root)
    return root


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` inside the demo repo, with this repo's `common` importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-p", "no:randomly"]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")
