"""Training-data profile: the frozen baseline that drift monitoring compares live traffic with.

Why frozen bin edges: a population stability index (PSI) is only comparable over time if the
bins never move. Edges are chosen once, by quantile of the development sample, and stored with
the model; live values are counted into the same bins. NaN (missing) is its own bucket, because
a provider going quiet is itself drift.

Numpy only, so the web process can compute PSI without importing scikit-learn or MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_BINS = 10
_EPS = 1e-4  # floor for empty bins in PSI, so one empty bin does not make PSI infinite


def quantile_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> list[float]:
    """Inner edges at the 1/bins .. (bins-1)/bins quantiles of non-missing values, deduplicated.

    A value v falls in bin `searchsorted(edges, v, side="left")`: bin k covers
    (edge[k-1], edge[k]], the first bin is unbounded below and the last unbounded above.
    """
    v = values[~np.isnan(values)]
    if v.size == 0:
        return []
    qs = np.quantile(v, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return [float(x) for x in np.unique(qs)]


def bin_fractions(values: np.ndarray, edges: Sequence[float]) -> tuple[list[float], float]:
    """(fraction per bin among non-missing, missing rate) of `values` in the frozen `edges`."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    v = values[~missing]
    n_bins = len(edges) + 1
    if v.size == 0:
        return [0.0] * n_bins, float(missing.mean()) if values.size else 0.0
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), v, side="left")
    counts = np.bincount(idx, minlength=n_bins)
    return [float(c) for c in counts / v.size], float(missing.mean())


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index between two binned distributions (same bins)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _EPS), max(a, _EPS)
        total += (a - e) * math.log(a / e)
    return total


def build_profile(
    X: np.ndarray,
    feature_names: Sequence[str],
    pd: np.ndarray,
    *,
    categorical: Sequence[str] = (),
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """Per-feature frozen bins, fractions, missing rate and summary; and the PD histogram.

    Categorical features (integer codes) get one bin per observed code (edges at code + 0.5),
    so a new or vanished category shows up in its own bin.
    """
    features: dict[str, Any] = {}
    for j, name in enumerate(feature_names):
        col = X[:, j].astype(np.float64)
        present = col[~np.isnan(col)]
        if name in categorical:
            codes = np.unique(present)
            edges = [float(c) + 0.5 for c in codes[:-1]]
        else:
            edges = quantile_edges(col, bins)
        fractions, missing_rate = bin_fractions(col, edges)
        features[name] = {
            "kind": "categorical" if name in categorical else "numeric",
            "edges": edges,
            "fractions": fractions,
            "missing_rate": missing_rate,
            "mean": float(present.mean()) if present.size else None,
            "std": float(present.std()) if present.size else None,
            "min": float(present.min()) if present.size else None,
            "max": float(present.max()) if present.size else None,
        }
    pd_edges = quantile_edges(np.asarray(pd, dtype=np.float64), bins)
    pd_fractions, _ = bin_fractions(np.asarray(pd, dtype=np.float64), pd_edges)
    return {
        "n": int(X.shape[0]),
        "bins": bins,
        "features": features,
        "pd": {
            "edges": pd_edges,
            "fractions": pd_fractions,
            "mean": float(np.mean(pd)) if len(pd) else None,
        },
    }


def feature_psi(
    profile: Mapping[str, Any], X: np.ndarray, feature_names: Sequence[str]
) -> dict[str, float]:
    """PSI per feature of a live batch `X` against the stored profile (missing as its own bin)."""
    out: dict[str, float] = {}
    for j, name in enumerate(feature_names):
        base = profile["features"].get(name)
        if base is None:
            continue
        fractions, missing = bin_fractions(X[:, j], base["edges"])
        present = 1.0 - missing
        base_present = 1.0 - base["missing_rate"]
        expected = [f * base_present for f in base["fractions"]] + [base["missing_rate"]]
        actual = [f * present for f in fractions] + [missing]
        out[name] = psi(expected, actual)
    return out
