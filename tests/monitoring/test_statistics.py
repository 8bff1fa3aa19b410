"""The drift statistics equal an independent computation (scipy, scikit-learn) on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import rel_entr
from sklearn.metrics import roc_auc_score

from modeling.profile import bin_fractions, quantile_edges
from monitoring import stats

RNG = np.random.default_rng(7)
BASE = RNG.lognormal(10.4, 0.5, 800)
SHIFTED = RNG.lognormal(10.2, 0.5, 500)
SAME = RNG.lognormal(10.4, 0.5, 500)


def test_it_computes_psi_as_the_symmetrised_kl_divergence() -> None:
    edges = quantile_edges(BASE)
    e, _ = bin_fractions(BASE, edges)
    a, _ = bin_fractions(SHIFTED, edges)
    ours = stats.psi_with_missing(e, 0.0, a, 0.0)
    e_, a_ = np.maximum([*e, 0.0], 1e-4), np.maximum([*a, 0.0], 1e-4)
    reference = float(np.sum(rel_entr(a_, e_) + rel_entr(e_, a_)))  # PSI = KL(a||e) + KL(e||a)
    assert ours == pytest.approx(reference, rel=1e-12)
    assert stats.psi_band(ours) in ("moderate", "significant")


@pytest.mark.parametrize("other", [SHIFTED, SAME], ids=["shifted", "same"])
def test_it_matches_scipy_ks_on_raw_samples(other: np.ndarray) -> None:
    ours = stats.ks_samples(BASE, other)
    ref = sps.ks_2samp(BASE, other, method="asymp")
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("other", [SHIFTED, SAME], ids=["shifted", "same"])
def test_it_matches_scipy_ks_on_the_frozen_bins(other: np.ndarray) -> None:
    """The binned KS is ks_2samp on the values discretised to their frozen bin."""
    edges = quantile_edges(BASE)
    e, _ = bin_fractions(BASE, edges)
    a, _ = bin_fractions(other, edges)
    ours = stats.ks_from_fractions(e, a, BASE.size, other.size)
    ref = sps.ks_2samp(np.searchsorted(edges, BASE), np.searchsorted(edges, other), method="asymp")
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert ours.statistic <= stats.ks_samples(BASE, other).statistic + 1e-12  # a lower bound


@pytest.mark.parametrize(
    ("base", "live"),
    [([400, 250, 100, 50], [180, 150, 110, 60]), ([500, 300, 0, 200], [240, 150, 0, 110]), ([90, 10], [80, 20])],
)
def test_it_matches_scipy_chi_square_of_homogeneity(base: list[int], live: list[int]) -> None:
    ours = stats.chi_square_homogeneity(base, live)
    table = np.array([base, live])
    table = table[:, table.sum(axis=0) > 0]
    ref = sps.chi2_contingency(table, correction=False)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.dof == ref.dof


def test_it_matches_scikit_learn_auc_with_ties() -> None:
    y = RNG.random(400) < 0.2
    score = np.round(RNG.random(400) * 0.3 + 0.2 * y, 2)  # rounded: plenty of ties
    assert stats.auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_it_matches_numpy_percentiles() -> None:
    assert stats.percentiles(BASE, (50, 95, 99)) == pytest.approx(list(np.percentile(BASE, [50, 95, 99])))
