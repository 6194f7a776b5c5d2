"""DreamerV2 — not written yet; see README.md."""
