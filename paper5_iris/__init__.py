"""IRIS — not written yet; see README.md."""
