"""DreamerV3 — not written yet; see README.md."""
