"""The complete reference implementations, one package per paper (DESIGN.md §2)."""
