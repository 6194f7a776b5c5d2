"""common.stats: IQM as in rliable (Agarwal et al. 2021), bootstrap CI, summaries, 'mean ± std' text."""

from __future__ import annotations

import numpy as np
import pytest

from common.stats import bootstrap_ci, format_mean_std, format_pm, iqm, summarize


def test_iqm_drops_a_quarter_at_each_end():
    assert iqm([1, 2, 3, 4, 100, 5, 6, 7]) == 4.5  # middle of 1..7, 100: 3, 4, 5, 6
    assert iqm([5.0]) == 5.0
    assert iqm([1, 2, 3]) == 2.0  # floor(3/4) = 0: nothing is dropped
    assert iqm([1, 2, 3, 1000, -1000]) == 2.0  # one dropped at each end


def test_iqm_matches_scipy_trim_mean_like_rliable():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n in range(1, 14):
        x = rng.normal(size=n) * 10
        assert iqm(x) == pytest.approx(stats.trim_mean(x, proportiontocut=0.25))


def test_summarize_fields_and_values():
    values = [885.0, 906.0, 927.0]
    s = summarize(values)
    assert set(s) == {"mean", "std", "iqm", "ci_low", "ci_high", "n", "values"}
    assert s["mean"] == pytest.approx(906.0) and s["std"] == pytest.approx(21.0)  # sample std, ddof=1
    assert s["n"] == 3 and s["values"] == values
    assert 885.0 <= s["ci_low"] < s["mean"] < s["ci_high"] <= 927.0
    assert summarize(values, seed=0) == s  # seeded: reproducible


def test_single_value_has_no_spread():
    s = summarize([3.5])
    assert s["std"] == 0.0 and s["ci_low"] == s["ci_high"] == s["mean"] == s["iqm"] == 3.5
    with pytest.raises(ValueError):
        summarize([])


def test_bootstrap_ci_has_the_right_width_and_coverage_level():
    x = np.random.default_rng(1).normal(size=400)
    low, high = bootstrap_ci(x, n_boot=2000, ci=0.95)
    expected = 2 * 1.96 * x.std() / np.sqrt(len(x))  # normal approximation of the mean's interval
    assert high - low == pytest.approx(expected, rel=0.15)
    assert low < x.mean() < high
    low90, high90 = bootstrap_ci(x, n_boot=2000, ci=0.90)
    assert high90 - low90 < high - low


def test_format_mean_std():
    assert format_mean_std([885, 906, 927]) == "906 ± 21"
    assert format_pm(0.8123, 0.0341) == "0.812 ± 0.034"
    assert format_pm(906.34, 5.0) == "906.3 ± 5.0"
    assert format_pm(12.5, 0.0) == "12.50 ± 0.00"
    assert format_pm(1.0, 2.0, digits=1) == "1.0 ± 2.0"
    assert format_mean_std([-3.0]) == "-3.00 ± 0.00"
