from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import numpy as np

from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    KycStatus,
    LoanPurpose,
    ResidentialStatus,
)
from decisioning.signals.simulated import (
    PROVIDER_VERSION,
    latent_quality,
    simulate_bureau,
    simulate_fraud,
    simulate_kyc,
    simulate_sanctions,
)


def _app(**overrides: object) -> ApplicationData:
    fields: dict[str, object] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": dt.date(1985, 12, 10),
        "postcode": "SW1A 1AA",
        "uk_resident": True,
        "residential_status": ResidentialStatus.RENT,
        "months_at_address": 30,
        "employment_status": EmploymentStatus.EMPLOYED,
        "months_in_employment": 40,
        "annual_income": Decimal("35000"),
        "monthly_expenditure": Decimal("1200"),
        "existing_debt": Decimal("4000"),
        "monthly_debt_payments": Decimal("150"),
        "dependants": 0,
        "requested_amount": Decimal("8000"),
        "term_months": 36,
        "purpose": LoanPurpose.CAR,
    }
    fields.update(overrides)
    return ApplicationData(**fields)  # type: ignore[arg-type]


def test_it_is_deterministic_per_identity() -> None:
    a, b = _app(), _app(first_name=" ada ", postcode="sw1a1aa")  # same identity key
    assert a.identity_key() == b.identity_key()
    assert simulate_bureau(a) == simulate_bureau(b)
    assert simulate_kyc(a) == simulate_kyc(b)
    assert simulate_sanctions(a) == simulate_sanctions(b)
    assert simulate_fraud(a) == simulate_fraud(b)
    assert latent_quality(a.identity_key()) == latent_quality(b.identity_key())
    assert PROVIDER_VERSION == "sim-1"


def test_it_ignores_submission_time() -> None:
    a = _app()
    b = _app(submitted_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert simulate_bureau(a) == simulate_bureau(b)


def test_it_gives_plausible_uk_distributions(modeling_cases: list) -> None:
    bureau = [c.signals.bureau for c in modeling_cases]
    scores = np.array([b.score for b in bureau])
    assert 600 <= scores.mean() <= 700
    assert scores.min() >= 0 and scores.max() <= 999
    assert np.mean([b.ccj_count_6y == 0 for b in bureau]) > 0.85
    assert np.mean([b.defaults_count_6y == 0 for b in bureau]) > 0.8
    assert all(0 <= b.searches_6m <= 10 for b in bureau)
    assert all(0.0 <= b.revolving_utilisation <= 1.2 for b in bureau)

    kyc = Counter(c.signals.kyc.status for c in modeling_cases)
    n = len(modeling_cases)
    assert 0.91 <= kyc[KycStatus.PASS] / n <= 0.97
    assert 0.02 <= kyc[KycStatus.REFER] / n <= 0.07
    assert 0.005 <= kyc[KycStatus.FAIL] / n <= 0.04
    assert np.mean([c.signals.sanctions.sanctions_hit for c in modeling_cases]) < 0.01
    assert 0.003 <= np.mean([c.signals.sanctions.pep_hit for c in modeling_cases]) <= 0.025
    assert np.median([c.signals.fraud.fraud_score for c in modeling_cases]) < 15


def test_it_ties_bureau_score_to_latent_quality(modeling_cases: list) -> None:
    z = [latent_quality(c.app.identity_key()) for c in modeling_cases]
    scores = [c.signals.bureau.score for c in modeling_cases]
    assert np.corrcoef(z, scores)[0, 1] > 0.6
