from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from modeling.features import FEATURE_NAMES
from modeling.training import train


def test_it_discriminates_and_matches_the_baseline(modeling_result: object) -> None:
    m = modeling_result.metrics  # type: ignore[attr-defined]
    assert m["xgboost"]["auc"] > 0.7
    assert m["xgboost"]["auc"] >= m["logistic_regression"]["auc"] - 0.02
    assert abs(m["xgboost"]["gini"] - (2 * m["xgboost"]["auc"] - 1)) < 1e-12
    assert 0 < m["xgboost"]["ks"] < 1


def test_it_agrees_with_sklearn(modeling_result: object) -> None:
    r = modeling_result
    auc = roc_auc_score(r.holdout_y, r.holdout_pd)  # type: ignore[attr-defined]
    assert abs(r.metrics["xgboost"]["auc"] - auc) < 1e-12  # type: ignore[attr-defined]


def test_it_reports_calibration_and_approval_curve(modeling_result: object) -> None:
    r = modeling_result
    assert len(r.calibration) == 10  # type: ignore[attr-defined]
    assert sum(row["n"] for row in r.calibration) == r.n_holdout  # type: ignore[attr-defined]
    rates = [row["bad_rate_approved"] for row in r.approval_curve]  # type: ignore[attr-defined]
    assert rates[0] < rates[-1]  # approving fewer, better applicants lowers the bad rate
    assert abs(rates[-1] - r.metrics["xgboost"]["bad_rate"]) < 1e-12  # type: ignore[attr-defined]


def test_it_stores_a_profile_with_frozen_bins(modeling_result: object) -> None:
    p = modeling_result.profile  # type: ignore[attr-defined]
    assert set(p["features"]) == set(FEATURE_NAMES)
    for f in p["features"].values():
        assert abs(sum(f["fractions"]) - 1.0) < 1e-9
        assert f["edges"] == sorted(f["edges"])
    assert abs(sum(p["pd"]["fractions"]) - 1.0) < 1e-9


def test_it_is_reproducible(modeling_data: tuple) -> None:
    X, y, ts = modeling_data
    X, y, ts = X[:1500], y[:1500], ts[:1500]
    kw = {"feature_names": FEATURE_NAMES, "seed": 1, "params": {"n_estimators": 20}}
    a = train(X, y, n_bootstrap=0, holdout="time", timestamps=ts, **kw)
    b = train(X, y, n_bootstrap=0, holdout="time", timestamps=ts, **kw)
    assert np.array_equal(a.holdout_pd, b.holdout_pd)
    assert a.metrics == b.metrics or np.isnan(a.metrics["xgboost"]["interval_coverage"])
