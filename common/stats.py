"""Statistics over seeds: mean, std, interquartile mean (IQM) and a bootstrap confidence interval.

After Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice": with few seeds, report
an interval, not only a mean, and prefer the IQM, which is robust to one outlying run. Their `rliable`
computes the IQM as `scipy.stats.trim_mean(scores, 0.25)`: sort, drop floor(n/4) values at each end,
average the rest; `iqm` below does exactly that with numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle values after dropping floor(n/4) at each end."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    cut = len(x) // 4
    return float(x[cut:len(x) - cut].mean())


def bootstrap_ci(values: Sequence[float] | np.ndarray, seed: int = 0, n_boot: int = 2000,
                 ci: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample the values with replacement n_boot times."""
    x = np.asarray(values, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)  # (n_boot,)
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize(values: Sequence[float] | np.ndarray, seed: int = 0, n_boot: int = 2000,
              ci: float = 0.95) -> dict[str, Any]:
    """mean, std (sample, ddof=1; 0 for one value), iqm, ci_low, ci_high (of the mean), n, values."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if len(x) == 0:
        raise ValueError("summarize needs at least one value.")
    low, high = bootstrap_ci(x, seed=seed, n_boot=n_boot, ci=ci)
    return {
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
        "iqm": iqm(x),
        "ci_low": low,
        "ci_high": high,
        "n": len(x),
        "values": x.tolist(),
    }


def format_pm(mean: float, std: float, digits: int | None = None) -> str:
    """'906 ± 21': by default the std keeps two significant digits and the mean as many decimals."""
    if digits is None:
        if std > 0 and math.isfinite(std):
            digits = max(0, 1 - math.floor(math.log10(std)))
        else:
            digits = 0 if abs(mean) >= 100 else 2
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_mean_std(values: Sequence[float] | np.ndarray, digits: int | None = None) -> str:
    """'906 ± 21' for the values' mean and sample std."""
    s = summarize(values, n_boot=1)
    return format_pm(s["mean"], s["std"], digits)
