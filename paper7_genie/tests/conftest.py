"""Fixtures shared by chapter 7's graded tests (pytest loads this file by itself)."""

from __future__ import annotations

from common.grading import reference, target

CHAPTER = "paper7_genie"


def wired(monkeypatch, dotted: str, siblings: tuple[str, ...] = ()):
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


def borrow(monkeypatch, dotted: str, names: tuple[str, ...]):
    """Your module `dotted` with the functions `names` pointed at the reference's, so that a test of one step runs
    with the reference's version of the other steps of the same file."""
    mod, ref = target(dotted), reference(dotted)
    if mod is not ref:
        for name in names:
            monkeypatch.setattr(mod, name, getattr(ref, name))
    return mod
