"""Genie — not written yet; see README.md."""
