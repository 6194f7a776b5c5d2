"""Fixtures shared by chapter 7's graded tests (pytest loads this file by itself)."""

from __future__ import annotations

from common.grading import borrow, reference, target, wired  # noqa: F401 (borrow, wired: for the tests)

CHAPTER = "paper7_genie"
