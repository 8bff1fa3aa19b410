from __future__ import annotations

import datetime as dt

import numpy as np

from decisioning.engine.types import LoanPurpose
from decisioning.signals.simulated import (
    simulate_bureau,
    simulate_fraud,
    simulate_kyc,
    simulate_sanctions,
)
from modeling.synthetic import DriftSpec, _identity_key, from_payload, generate, to_payload

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_it_is_reproducible_with_a_seed() -> None:
    a = generate(300, seed=1, start=START, end=END)
    b = generate(300, seed=1, start=START, end=END)
    c = generate(300, seed=2, start=START, end=END)
    assert a == b
    assert a != c


def test_it_has_a_bad_rate_in_range(modeling_cases: list) -> None:
    y = np.array([c.defaulted for c in modeling_cases])
    pd = np.array([c.true_pd for c in modeling_cases])
    assert 0.06 <= y.mean() <= 0.10
    assert 0.06 <= pd.mean() <= 0.10
    assert ((pd > 0) & (pd < 1)).all()


def test_it_generates_plausible_applicants(modeling_cases: list) -> None:
    apps = [c.app for c in modeling_cases]
    income = np.array([float(a.annual_income) for a in apps])
    assert 27_000 <= np.median(income) <= 37_000
    amounts = np.array([float(a.requested_amount) for a in apps])
    assert amounts.min() >= 1000 and amounts.max() <= 25000
    assert (amounts % 100 == 0).all()
    assert all(12 <= a.term_months <= 60 for a in apps)
    ages = np.array([(a.submitted_at.date() - a.date_of_birth).days / 365.25 for a in apps])
    assert ages.max() < 81
    assert 0.001 <= np.mean(ages < 18) <= 0.015
    assert 0.96 <= np.mean([a.uk_resident for a in apps]) <= 0.995
    assert np.mean([a.bankrupt_or_iva for a in apps]) < 0.03
    assert all(START <= a.submitted_at < END for a in apps)
    assert all(len(a.postcode.split(" ")[1]) == 3 for a in apps)


def test_it_uses_the_live_providers(modeling_cases: list) -> None:
    for case in modeling_cases[:200]:
        app = case.app
        assert (
            _identity_key(app.first_name, app.last_name, app.date_of_birth, app.postcode)
            == app.identity_key()
        )
        assert case.signals.bureau == simulate_bureau(app)
        assert case.signals.kyc == simulate_kyc(app)
        assert case.signals.sanctions == simulate_sanctions(app)
        assert case.signals.fraud == simulate_fraud(app)


def test_it_round_trips_the_api_payload(modeling_cases: list) -> None:
    for case in modeling_cases[:100]:
        payload = to_payload(case.app)
        assert "submitted_at" not in payload
        assert isinstance(payload["annual_income"], str)
        assert isinstance(payload["date_of_birth"], str)
        back = from_payload(payload, submitted_at=case.app.submitted_at)
        assert back == case.app


def test_it_applies_drift() -> None:
    base = generate(3000, seed=3, start=START, end=END)
    drifted = generate(
        3000,
        seed=3,
        start=START,
        end=END,
        drift=DriftSpec(income_multiplier=0.8, bureau_score_shift=-40, other_purpose_share=0.4),
    )

    def mean(cases: list, f: object) -> float:
        return float(np.mean([f(c) for c in cases]))  # type: ignore[operator]

    assert mean(drifted, lambda c: float(c.app.annual_income)) < 0.9 * mean(
        base, lambda c: float(c.app.annual_income)
    )
    shift = mean(drifted, lambda c: c.signals.bureau.score) - mean(
        base, lambda c: c.signals.bureau.score
    )
    assert -60 < shift < -20
    assert 0.35 < mean(drifted, lambda c: c.app.purpose == LoanPurpose.OTHER) < 0.45
    assert mean(drifted, lambda c: c.true_pd) > mean(base, lambda c: c.true_pd)
