"""Drift and performance statistics on plain arrays. Framework-free: imports nothing from Django.

Everything here compares *live* values with the model's training profile (`modeling.profile`),
whose bins were frozen at registration. The profile keeps bin fractions, not the training rows,
so the two-sample tests run on the binned data:

- PSI: `modeling.profile.psi` over the frozen bins with missing as its own bin (the same function
  the model card uses), so a number here means the same as everywhere else.
- KS (numeric features): the two-sample Kolmogorov-Smirnov statistic between the baseline and the
  live empirical CDFs *evaluated at the frozen bin edges*. That equals `scipy.stats.ks_2samp` on
  the data discretised to bin indices, and is a lower bound of the KS statistic on the raw values
  (the supremum is taken over ten points, not over every value). p-value: Smirnov's asymptotic
  distribution with n = n_base·n_live/(n_base+n_live), as `ks_2samp(method="asymp")` does.
- Chi-square (categorical features): Pearson's test of homogeneity on the 2xk table of baseline
  counts (fraction x profile n) and live counts, categories empty in both dropped, no continuity
  correction — `scipy.stats.chi2_contingency(..., correction=False)`.

The statistics are computed here with numpy; scipy supplies only the two reference distributions
(`kstwo`, `chi2`) for p-values. Tests check statistic and p-value against scipy's own tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modeling.profile import bin_fractions, psi

PSI_WARNING = 0.1
PSI_CRITICAL = 0.25


def psi_band(value: float) -> str:
    """The usual reading: < 0.1 stable, 0.1-0.25 moderate shift, ≥ 0.25 significant shift."""
    if value >= PSI_CRITICAL:
        return "significant"
    if value >= PSI_WARNING:
        return "moderate"
    return "stable"


@dataclass(frozen=True, slots=True)
class TestResult:
    statistic: float
    p_value: float
    dof: int = 0


def psi_with_missing(
    base_fractions: Sequence[float], base_missing: float, cur_fractions: Sequence[float], cur_missing: float
) -> float:
    """PSI over the frozen bins plus a missing bucket (fractions are among non-missing values)."""
    expected = [f * (1.0 - base_missing) for f in base_fractions] + [base_missing]
    actual = [f * (1.0 - cur_missing) for f in cur_fractions] + [cur_missing]
    return psi(expected, actual)


def ks_from_fractions(
    base_fractions: Sequence[float], cur_fractions: Sequence[float], n_base: int, n_cur: int
) -> TestResult:
    """Two-sample KS on binned data: max |CDF difference| at the bin edges; asymptotic p-value."""
    if n_base <= 0 or n_cur <= 0:
        return TestResult(float("nan"), float("nan"))
    cdf_b = np.cumsum(np.asarray(base_fractions, dtype=np.float64))
    cdf_c = np.cumsum(np.asarray(cur_fractions, dtype=np.float64))
    d = float(np.max(np.abs(cdf_b - cdf_c))) if cdf_b.size else 0.0
    return TestResult(d, ks_p_value(d, n_base, n_cur))


def ks_samples(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Two-sample KS on raw values (NaN dropped): the exact supremum over all values."""
    a = np.sort(a[~np.isnan(a)])
    b = np.sort(b[~np.isnan(b)])
    if a.size == 0 or b.size == 0:
        return TestResult(float("nan"), float("nan"))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    return TestResult(d, ks_p_value(d, a.size, b.size))


def ks_p_value(d: float, n1: int, n2: int) -> float:
    """Smirnov's two-sided asymptotic p-value (what `ks_2samp(method="asymp")` returns)."""
    from scipy.stats import kstwo

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def chi_square_homogeneity(base_counts: Sequence[float], cur_counts: Sequence[float]) -> TestResult:
    """Pearson chi-square on the 2xk table (rows: baseline, live), empty columns dropped."""
    from scipy.stats import chi2

    table = np.vstack([np.asarray(base_counts, dtype=np.float64), np.asarray(cur_counts, dtype=np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return TestResult(0.0, 1.0, 0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    return TestResult(stat, float(chi2.sf(stat, dof)), dof)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney rank sum (ties get average ranks)."""
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(score.size, dtype=np.float64)
    sorted_scores = score[order]
    i = 0
    while i < score.size:  # average ranks over ties
        j = i
        while j + 1 < score.size and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def percentiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Linear-interpolated percentiles (numpy's default), NaN for an empty input."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return [float("nan")] * len(qs)
    return [float(x) for x in np.percentile(values, list(qs))]


def band_table(pd: np.ndarray, bad: np.ndarray, bands: Sequence[float]) -> list[dict[str, float]]:
    """Per PD band [lo, hi): count, bad rate, mean PD (the calibration table)."""
    rows: list[dict[str, float]] = []
    for lo, hi in itertools.pairwise(bands):
        mask = (pd >= lo) & ((pd < hi) if hi < bands[-1] else (pd <= hi))
        n = int(mask.sum())
        rows.append(
            {
                "lo": float(lo),
                "hi": float(hi),
                "n": n,
                "bad_rate": float(bad[mask].mean()) if n else float("nan"),
                "mean_pd": float(pd[mask].mean()) if n else float("nan"),
            }
        )
    return rows


def finite_or_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


__all__ = [
    "PSI_CRITICAL",
    "PSI_WARNING",
    "TestResult",
    "auc",
    "band_table",
    "bin_fractions",
    "chi_square_homogeneity",
    "finite_or_none",
    "ks_from_fractions",
    "ks_p_value",
    "ks_samples",
    "percentiles",
    "psi_band",
    "psi_with_missing",
]
