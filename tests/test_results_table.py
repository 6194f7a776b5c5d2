"""The README's results table is the one `python -m common.results` makes from docs/results/*.json."""

from __future__ import annotations

import pytest

from common.results import README, RESULTS_DIR, load_results, render_table, replace_section


def test_readme_results_table_is_up_to_date():
    if not README.exists():
        pytest.skip("README.md does not exist yet, so there is no results table to check.")
    text = README.read_text()
    expected = replace_section(text, render_table(load_results(RESULTS_DIR)))
    assert text == expected, ("README.md's results table differs from docs/results/*.json; "
                              "run `python -m common.results` to rewrite it.")
