"""Fixtures shared by chapter 5's graded tests (pytest loads this file by itself)."""

from __future__ import annotations

import dataclasses

import pytest

from common.grading import reference, target

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


def wired(monkeypatch, dotted: str, siblings: tuple[str, ...]):
    """Your module `dotted`, with the names it imported from `siblings` pointed at the reference's, so a
    mistake in an earlier step does not fail this one too."""
    mod = target(dotted)
    for sibling in siblings:
        ref = reference(f"{CHAPTER}.{sibling}")
        for name in dir(ref):
            own = getattr(getattr(ref, name), "__module__", "") == ref.__name__
            if not name.startswith("_") and hasattr(mod, name) and own:
                monkeypatch.setattr(mod, name, getattr(ref, name))
    return mod


def borrow(monkeypatch, dotted: str, names: tuple[str, ...], cls: str | None = None):
    """Your module `dotted` with `names` (functions, or methods of its class `cls`) pointed at the reference's,
    so that a test of one step runs with the reference's version of the other steps of the same file."""
    mod, ref = target(dotted), reference(dotted)
    owner, ref_owner = (mod, ref) if cls is None else (getattr(mod, cls), getattr(ref, cls))
    if owner is not ref_owner:
        for name in names:
            monkeypatch.setattr(owner, name, getattr(ref_owner, name))
    return mod
