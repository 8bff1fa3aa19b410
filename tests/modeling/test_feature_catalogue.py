from __future__ import annotations

import datetime as dt
import math

import numpy as np

from decisioning.engine.types import Signals
from modeling.features import (
    CATALOGUE,
    FEATURE_NAMES,
    FEATURE_VERSION,
    build_matrix,
    build_vector,
    catalogue_as_rows,
    rule_context,
)


def test_it_builds_identical_vectors_and_matrix_rows(modeling_cases: list) -> None:
    cases = [(c.app, c.signals, c.app.submitted_at.date()) for c in modeling_cases[:200]]
    X = build_matrix(cases)
    assert X.shape == (200, len(FEATURE_NAMES))
    for i, (app, signals, as_of) in enumerate(cases):
        v = build_vector(app, signals, as_of=as_of)
        assert v.version == FEATURE_VERSION
        assert v.names == FEATURE_NAMES
        row = np.array(v.values, dtype=np.float64)
        assert np.array_equal(row, X[i], equal_nan=True)


def test_it_gives_nan_for_missing_signals(modeling_cases: list) -> None:
    app = modeling_cases[0].app
    v = build_vector(app, Signals(None, None, None, None), as_of=dt.date(2025, 6, 1)).as_dict()
    signal_features = [s.name for s in CATALOGUE if s.lineage_kind == "signal"]
    assert signal_features
    assert all(math.isnan(v[name]) for name in signal_features)
    assert not math.isnan(v["disposable_income"])


def test_it_documents_every_feature() -> None:
    rows = catalogue_as_rows()
    assert [r["name"] for r in rows] == list(FEATURE_NAMES)
    for r in rows:
        assert r["description"] and r["lineage_source"] and r["reason_text"]
        assert r["reason_code"].startswith("R_")
        assert r["monotone"] in (-1, 0, 1)
        assert r["lineage_kind"] in ("application", "signal", "derived")
        if r["dtype"] == "categorical":
            assert r["categories"]


def test_it_exposes_namespaces_to_rules(modeling_cases: list) -> None:
    case = modeling_cases[0]
    as_of = case.app.submitted_at.date()
    v = build_vector(case.app, case.signals, as_of=as_of)
    ctx = rule_context(case.app, case.signals, v, 0.05)
    assert set(ctx) >= {
        "applicant",
        "loan",
        "bureau",
        "kyc",
        "sanctions",
        "fraud",
        "features",
        "model",
    }
    assert ctx["model"]["pd"] == 0.05
    assert ctx["bureau"]["score"] == case.signals.bureau.score
    assert set(ctx["features"]) == set(FEATURE_NAMES)

    missing = Signals(None, None, None, None)
    ctx = rule_context(case.app, missing, build_vector(case.app, missing, as_of=as_of), None)
    assert ctx["bureau"]["score"] is None
    assert ctx["kyc"]["status"] is None
    assert ctx["features"]["bureau_score"] is None
    assert ctx["model"]["pd"] is None
