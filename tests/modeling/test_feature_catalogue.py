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


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all((x == y) or (x != x and y != y) for x, y in zip(a, b, strict=True))


def test_loan_features_are_exactly_those_an_amount_or_term_change_moves() -> None:
    """`build_loan_variant` recomputes only LOAN_FEATURES: on varied applications and loans, it
    equals `build_vector` (so no other feature reads the amount or term), and each loan feature
    does move with them (so the set is not wider than needed)."""
    import dataclasses
    import datetime as dt
    import random
    from decimal import Decimal

    from decisioning.signals.gateway import simulated_signals
    from modeling.features import FEATURE_NAMES, LOAN_FEATURES, build_loan_variant, build_vector
    from modeling.synthetic import generate

    rng = random.Random(3)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    moved: set[str] = set()
    for case in generate(150, seed=17, start=now - dt.timedelta(days=30), end=now):
        signals = simulated_signals(case.app, now=now)
        base = build_vector(case.app, signals, as_of=now.date())
        for _ in range(6):
            variant = dataclasses.replace(
                case.app,
                requested_amount=Decimal(rng.choice([500, 1000, 2500, 7300, 15000, 40000])),
                term_months=rng.choice([6, 12, 24, 36, 60, 84, 120]),
            )
            expected = build_vector(variant, signals, as_of=now.date())
            got = build_loan_variant(base, variant, signals, as_of=now.date())
            assert got.names == expected.names and _same(got.values, expected.values), case.app
            moved |= {n for n, a, b in zip(FEATURE_NAMES, base.values, expected.values, strict=True) if not _same((a,), (b,))}
    assert moved == LOAN_FEATURES
