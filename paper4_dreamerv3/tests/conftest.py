"""Fixtures shared by chapter 4's graded tests (pytest loads this file by itself)."""

from __future__ import annotations

import dataclasses

import pytest

from common.grading import reference, target

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
