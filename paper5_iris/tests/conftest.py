"""Fixtures shared by chapter 5's graded tests (pytest loads this file by itself)."""

from __future__ import annotations

import dataclasses

import pytest

from common.grading import borrow, reference, target, wired  # noqa: F401 (borrow, wired: for the tests)

CHAPTER = "paper5_iris"


@pytest.fixture
def small_cfg():
    """The chapter's Config with a tiny model, so that every test runs in milliseconds."""
    cfg = reference(f"{CHAPTER}.config").Config()
    return dataclasses.replace(cfg, vocab=16, code_dim=8, channels=4, embed=16, layers=2, heads=2, max_blocks=4,
                               dropout=0.0, ac_channels=(4, 4, 8, 8), lstm=12, burn_in=2, horizon=3, gamma=0.9,
                               lam=0.8, tokenizer_batch=6, world_model_batch=2, actor_critic_batch=2)


@pytest.fixture
def no_noise(monkeypatch):
    """sample_class becomes the most likely class, in your code and the reference's: dreams become comparable
    without depending on the order of random draws."""
    for name in ("sample", "agent"):
        for mod in {target(f"{CHAPTER}.{name}"), reference(f"{CHAPTER}.{name}")}:
            if hasattr(mod, "sample_class"):
                monkeypatch.setattr(mod, "sample_class", lambda logits, temperature=1.0: logits.argmax(-1))
