"""The repo's own checks: print the property-only mutation figure of each chapter (tests/test_mutations.py)."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    module = next((m for name, m in sys.modules.items() if name.endswith("test_mutations")
                   and hasattr(m, "PROPERTY_FIGURES")), None)
    if module is None or not module.PROPERTY_FIGURES:
        return
    terminalreporter.write_sep("-", "listed mistakes caught by property checks alone (--reference target)")
    for chapter, figure in sorted(module.PROPERTY_FIGURES.items()):
        terminalreporter.write_line(f"{chapter}: {figure}")
