"""Statistics of a champion/challenger comparison. Numpy only (no scikit-learn, no scipy), so the
web process can build a shadow report without the ~3 s imports.

AUC significance: DeLong's test for two *correlated* ROC curves (both models scored the same
loans), in the fast midrank form of Sun & Xu (2014). It gives the variance of the AUC difference
analytically — no resampling, deterministic, and exact enough from a few hundred loans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modeling.profile import bin_fractions, psi, quantile_edges

OUTCOMES = ("approve", "refer", "decline")

#: PD bands of the report (code, lower inclusive, upper exclusive): the review queue's bands.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("A <3%", 0.0, 0.03),
    ("B 3-8%", 0.03, 0.08),
    ("C 8-15%", 0.08, 0.15),
    ("D 15-25%", 0.15, 0.25),
    ("E >=25%", 0.25, 1.01),
)


def flip_matrix(champion: Sequence[str], challenger: Sequence[str]) -> list[list[int]]:
    """Counts: rows are the champion's outcome, columns the challenger's (order of OUTCOMES)."""
    index = {o: i for i, o in enumerate(OUTCOMES)}
    m = [[0] * len(OUTCOMES) for _ in OUTCOMES]
    for a, b in zip(champion, challenger, strict=True):
        m[index[a]][index[b]] += 1
    return m


def correlations(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    """(Pearson, Spearman) of two score vectors; None where undefined (fewer than 3, or constant)."""
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None, None
    pearson = float(np.corrcoef(a, b)[0, 1])
    spearman = float(np.corrcoef(_midrank(a), _midrank(b))[0, 1])
    return pearson, spearman


def score_psi(champion: np.ndarray, challenger: np.ndarray, bins: int = 10) -> float | None:
    """PSI of the challenger's PDs against the champion's, in deciles of the champion's PDs."""
    if champion.size == 0 or challenger.size == 0:
        return None
    edges = quantile_edges(champion, bins)
    expected, _ = bin_fractions(champion, edges)
    actual, _ = bin_fractions(challenger, edges)
    return psi(expected, actual)


def _midrank(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = len(x)
    ranks = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        while j < n and xs[j] == xs[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(n, dtype=np.float64)
    out[order] = ranks
    return out


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney), ties counted half."""
    pos, neg = score[y == 1], score[y == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return math.nan
    ranks = _midrank(np.concatenate([pos, neg]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


@dataclass(frozen=True, slots=True)
class AucComparison:
    n: int
    n_bad: int
    auc_champion: float
    auc_challenger: float
    difference: float  # challenger - champion
    se: float
    z: float
    p_value: float  # two-sided
    ci_low: float  # 95% interval of the difference
    ci_high: float
    method: str = "DeLong (paired)"

    @property
    def gini_champion(self) -> float:
        return 2 * self.auc_champion - 1

    @property
    def gini_challenger(self) -> float:
        return 2 * self.auc_challenger - 1


def delong(y: np.ndarray, champion: np.ndarray, challenger: np.ndarray) -> AucComparison | None:
    """DeLong's paired test of AUC(challenger) - AUC(champion); None without both classes."""
    y = np.asarray(y, dtype=np.int8)
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m < 2 or n < 2:
        return None
    scores = np.vstack([champion, challenger]).astype(np.float64)
    k = scores.shape[0]
    x, z = scores[:, pos], scores[:, neg]
    tx = np.array([_midrank(r) for r in x])
    tz = np.array([_midrank(r) for r in z])
    tall = np.array([_midrank(r) for r in np.hstack([x, z])])
    aucs = (tall[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tall[:, :m] - tx) / n
    v10 = 1.0 - (tall[:, m:] - tz) / m
    s = np.cov(v01) / m + np.cov(v10) / n
    s = s.reshape(k, k)
    diff = float(aucs[1] - aucs[0])
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se == 0.0:
        zstat, p = 0.0, 1.0
    else:
        zstat = diff / se
        p = math.erfc(abs(zstat) / math.sqrt(2))
    return AucComparison(
        n=m + n,
        n_bad=m,
        auc_champion=float(aucs[0]),
        auc_challenger=float(aucs[1]),
        difference=diff,
        se=se,
        z=zstat,
        p_value=p,
        ci_low=diff - 1.96 * se,
        ci_high=diff + 1.96 * se,
    )


def bad_rate_by_band(y: np.ndarray, pd: np.ndarray) -> list[dict[str, float | int | str | None]]:
    """Loans, bads and bad rate per PD band of one model."""
    rows: list[dict[str, float | int | str | None]] = []
    for label, lo, hi in BANDS:
        mask = (pd >= lo) & (pd < hi)
        count = int(mask.sum())
        bads = int(y[mask].sum()) if count else 0
        rows.append(
            {"band": label, "n": count, "bad": bads, "bad_rate": bads / count if count else None}
        )
    return rows
