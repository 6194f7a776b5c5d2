"""Fixtures shared by chapter 4's graded tests (pytest loads this file by itself)."""

from __future__ import annotations

import dataclasses

import pytest

from common.grading import borrow, reference, target, wired  # noqa: F401 (borrow, wired: for the tests)

CHAPTER = "paper4_dreamerv3"


@pytest.fixture
def small_cfg():
    """The chapter's Config with a tiny model, so that every test runs in milliseconds."""
    cfg = reference(f"{CHAPTER}.config").Config()
    return dataclasses.replace(cfg, deter=12, hidden=10, stoch=3, classes=4, units=16, layers=1, cnn_depth=4,
                               bins=15, bin_range=5.0, batch=3, length=5, horizon=4, imag_starts=0,
                               discount=0.9, lam=0.8, dyn_scale=0.3, rep_scale=0.7, free_bits=1.0)


@pytest.fixture
def no_noise(monkeypatch):
    """One-hot samples become the most likely class, in your code and the reference's: results become
    comparable without depending on the order of random draws."""
    for name in ("world_model", "actor_critic"):
        for mod in {target(f"{CHAPTER}.{name}"), reference(f"{CHAPTER}.{name}")}:
            original = mod.onehot_sample
            monkeypatch.setattr(mod, "onehot_sample", lambda logits, sample=True, f=original: f(logits, False))
