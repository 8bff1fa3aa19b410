"""Synthetic UK personal-loan applicants with a known ground-truth probability of default.

Why synthetic: the demo, the tests and the benchmarks need realistic volumes of applications
with *known* outcomes, and real applicant data cannot leave the lender. Because the true PD is
known, we can check that the model recovers it and that its intervals cover it.

Signals come from `decisioning.signals.simulated`, keyed on the applicant's identity, so a
generated case submitted through the live pipeline sees exactly the same bureau/KYC/sanctions/
fraud answers as it did here.

Ground truth (documented in docs/modeling.md):

    logit(true_pd) = ALPHA
        - 0.45 * z                                 # latent quality (hidden from the model)
        - 0.0025 * (bureau_score - 660)
        + 0.35 * defaults_6y + 0.30 * ccj_6y + 0.18 * min(arrears_12m, 4)
        + 0.50 * (revolving_utilisation - 0.4) + 1.50 * max(0, revolving_utilisation - 0.9)
        + 0.25 * max(0, searches_6m - 3)
        + 1.60 * clip(debt_service_ratio - 0.30, 0, 1)   # (debt payments + new repayment) / net
        + 0.70 * [disposable < 0] + 0.30 * [0 <= disposable < 250]
        + employment: unemployed +0.70, student +0.35, self-employed +0.20
        + 0.25 * [employed < 6 months] + 1.00 * [bankrupt_or_iva]
        + 0.03 * max(0, 30 - age) + 0.40 * [age >= 70]   # U-shaped in age
        + 0.50 * [age < 25 and revolving_utilisation > 0.8]  # interaction
        + 1.50 * fraud_score / 100

with ALPHA = -3.85, which gives an overall bad rate of about 8%. `defaulted ~ Bernoulli(true_pd)`.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    LoanPurpose,
    ResidentialStatus,
    Signals,
)
from decisioning.signals.simulated import latent_qualities, simulate_many
from modeling.features import MONTHLY_RATE, build_matrix, net_monthly_income

ALPHA = -3.85

# fmt: off
FIRST_NAMES: tuple[str, ...] = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Muhammad", "Thomas", "Oscar",
    "William", "James", "Leo", "Alfie", "Henry", "Joshua", "Daniel", "David", "Samuel", "Arthur",
    "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Mia", "Poppy", "Ella",
    "Lily", "Freya", "Charlotte", "Jessica", "Chloe", "Sarah", "Emma", "Priya", "Aisha", "Zara",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner",
    "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker",
    "Harrison", "Morgan", "Khan", "Ahmed", "Singh", "O'Brien", "Murphy", "Campbell", "Kelly",
)
OUTWARD_CODES: tuple[str, ...] = (
    "SW1A", "EC1A", "E14", "N1", "NW3", "SE15", "W2", "WC2N", "CR0", "BR1", "KT1", "TW9",
    "M1", "M20", "B1", "B15", "L1", "L18", "LS1", "LS6", "S1", "S10", "NE1", "NE6", "BS1",
    "BS8", "CF10", "CF24", "EH1", "EH10", "G1", "G12", "AB10", "DD1", "BT1", "BT9", "NG1",
    "NG7", "LE1", "CV1", "OX1", "CB1", "BN1", "SO14", "PO1", "PL1", "EX1", "YO1", "HU1",
    "SR1", "DH1", "CA1", "LA1", "PR1", "BB1", "BL1", "WA1", "CH1", "ST1", "DE1", "NR1", "IP1",
    "CO1", "CM1", "SS1", "ME1", "CT1", "TN1", "GU1", "RG1", "MK9", "LU1", "AL1", "SG1", "HP1",
)
# fmt: on
# Royal Mail inward-code letters exclude C, I, K, M, O, V.
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

EMPLOYMENT_ORDER = (
    EmploymentStatus.EMPLOYED,
    EmploymentStatus.SELF_EMPLOYED,
    EmploymentStatus.UNEMPLOYED,
    EmploymentStatus.RETIRED,
    EmploymentStatus.STUDENT,
)
RESIDENTIAL_ORDER = (
    ResidentialStatus.OWNER,
    ResidentialStatus.MORTGAGE,
    ResidentialStatus.RENT,
    ResidentialStatus.LIVING_WITH_PARENTS,
    ResidentialStatus.OTHER,
)
BASE_PURPOSE_MIX: dict[LoanPurpose, float] = {
    LoanPurpose.DEBT_CONSOLIDATION: 0.38,
    LoanPurpose.HOME_IMPROVEMENT: 0.20,
    LoanPurpose.CAR: 0.17,
    LoanPurpose.WEDDING: 0.05,
    LoanPurpose.HOLIDAY: 0.06,
    LoanPurpose.MEDICAL: 0.03,
    LoanPurpose.OTHER: 0.11,
}
TERMS = np.array([12, 18, 24, 36, 48, 60])
TERM_WEIGHTS = np.array([0.10, 0.05, 0.25, 0.30, 0.12, 0.18])

# One point of latent quality moves the mean bureau score by ~95 * 0.75 points (see simulated).
_SCORE_POINTS_PER_Z = 71.25


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """A shifted applicant population, for exercising drift monitoring and challengers.

    - `income_multiplier` scales declared incomes (e.g. 0.85: a cost-of-living squeeze).
    - `bureau_score_shift` moves the mean bureau score by about that many points. It is realised
      as a shift of the population's latent quality (exponential tilting of who applies), not by
      editing scores, so live providers still return exactly the generated signals — and default
      rates move with it, as they would in reality.
    - `purpose_mix` replaces the purpose distribution; `other_purpose_share` moves mass onto
      `LoanPurpose.OTHER`. A genuinely new purpose (e.g. "education" from a new broker) cannot be
      represented in the typed core without a schema change; it arrives as OTHER, which is how
      the API would have to record it too, so a surge in OTHER is the signal to monitor.
    """

    income_multiplier: float = 1.0
    bureau_score_shift: float = 0.0
    purpose_mix: Mapping[LoanPurpose, float] | None = None
    other_purpose_share: float | None = None


@dataclass(frozen=True, slots=True)
class SyntheticCase:
    app: ApplicationData
    signals: Signals
    true_pd: float
    defaulted: bool


def _identity_key(first: str, last: str, dob: dt.date, postcode: str) -> str:
    # Mirrors ApplicationData.identity_key(); a test asserts they agree.
    return f"{first.lower()}|{last.lower()}|{dob.isoformat()}|{postcode.replace(' ', '').upper()}"


def _purpose_probs(drift: DriftSpec | None) -> tuple[list[LoanPurpose], np.ndarray]:
    mix = dict(BASE_PURPOSE_MIX)
    if drift is not None and drift.purpose_mix is not None:
        mix = {LoanPurpose(k): float(v) for k, v in drift.purpose_mix.items()}
    if drift is not None and drift.other_purpose_share is not None:
        rest = sum(v for k, v in mix.items() if k != LoanPurpose.OTHER)
        share = drift.other_purpose_share
        mix = {
            k: (share if k == LoanPurpose.OTHER else v / rest * (1.0 - share))
            for k, v in mix.items()
        }
        mix.setdefault(LoanPurpose.OTHER, share)
    keys = list(mix)
    p = np.array([mix[k] for k in keys], dtype=float)
    return keys, p / p.sum()


def generate(
    n: int,
    *,
    seed: int,
    start: dt.datetime,
    end: dt.datetime,
    drift: DriftSpec | None = None,
) -> list[SyntheticCase]:
    """`n` applications submitted uniformly in [start, end), reproducible for a given seed.

    Application fields are drawn with numpy in one go; only object construction and the
    (deliberately scalar, shared with the live pipeline) simulated providers run per case.
    """
    if n <= 0:
        return []
    rng = np.random.default_rng(seed)
    shift_z = 0.0 if drift is None else drift.bureau_score_shift / _SCORE_POINTS_PER_Z
    m = n if shift_z == 0.0 else 3 * n

    # --- identities (candidate pool when tilting) ---------------------------------------------
    span = (end - start).total_seconds()
    submitted_s = rng.random(m) * span
    age_draw = 18.0 + rng.beta(1.6, 2.6, m) * 62.5  # mode late 30s, tail to 80
    minors = rng.random(m) < 0.005
    age_draw = np.where(minors, 16.0 + rng.random(m) * 1.99, age_draw)
    first_idx = rng.integers(0, len(FIRST_NAMES), m)
    last_idx = rng.integers(0, len(LAST_NAMES), m)
    out_idx = rng.integers(0, len(OUTWARD_CODES), m)
    in_digit = rng.integers(0, 10, m)
    in_l1 = rng.integers(0, len(_INWARD_LETTERS), m)
    in_l2 = rng.integers(0, len(_INWARD_LETTERS), m)

    # Per-row Python work on Python scalars (.tolist()): numpy scalars are slow to index with,
    # format and do arithmetic on one at a time (the values and IEEE operations are the same).
    submitted = [start + dt.timedelta(seconds=s) for s in submitted_s.tolist()]
    dobs = [
        ts.date() - dt.timedelta(days=int(a * 365.25))
        for ts, a in zip(submitted, age_draw.tolist(), strict=True)
    ]
    postcodes = [
        f"{OUTWARD_CODES[o]} {d}{_INWARD_LETTERS[a]}{_INWARD_LETTERS[b]}"
        for o, d, a, b in zip(
            out_idx.tolist(), in_digit.tolist(), in_l1.tolist(), in_l2.tolist(), strict=True
        )
    ]
    firsts = [FIRST_NAMES[i] for i in first_idx.tolist()]
    lasts = [LAST_NAMES[i] for i in last_idx.tolist()]
    # Each identity key once (the providers below reuse it and the latent quality).
    keys = [
        _identity_key(f, la, d, p)
        for f, la, d, p in zip(firsts, lasts, dobs, postcodes, strict=True)
    ]
    z = latent_qualities(keys)

    if m != n:
        # Exponential tilting: weights exp(shift*z) turn N(0,1) into ~N(shift,1).
        w = np.exp(shift_z * z - shift_z * shift_z / 2.0)
        chosen = np.sort(rng.choice(m, size=n, replace=False, p=w / w.sum()))
        z = z[chosen]
        age_draw = age_draw[chosen]
        submitted = [submitted[i] for i in chosen]
        dobs = [dobs[i] for i in chosen]
        postcodes = [postcodes[i] for i in chosen]
        firsts = [firsts[i] for i in chosen]
        lasts = [lasts[i] for i in chosen]
        keys = [keys[i] for i in chosen]

    age = np.floor(age_draw)

    # --- employment -----------------------------------------------------------------------------
    u = rng.random(n)
    p_retired = np.clip((age - 58.0) / 10.0, 0.0, 0.9)
    p_student = np.where(age < 23, 0.30, np.where(age < 30, 0.04, 0.0))
    p_unemp = 0.04 * np.exp(-0.5 * z)
    p_self = 0.12 * (1.0 - p_retired)
    emp_code = np.select(
        [
            u < p_retired,
            u < p_retired + p_student,
            u < p_retired + p_student + p_unemp,
            u < p_retired + p_student + p_unemp + p_self,
        ],
        [3, 4, 2, 1],
        default=0,
    )

    # --- income: lognormal, median ~£32k overall ------------------------------------------------
    age_curve = -0.00045 * (age - 45.0) ** 2
    emp_factor = np.array([1.0, 1.0, 0.30, 0.62, 0.38])[emp_code]
    log_income = np.log(38000.0) + age_curve + 0.10 * z + 0.48 * rng.standard_normal(n)
    income = np.exp(log_income) * emp_factor
    # Debt was taken on before any income shock: it follows the income people *had*, so an
    # income drift moves debt-to-income as it would in a cost-of-living squeeze.
    income_before_drift = np.round(np.clip(income, 0.0, 2_000_000.0) / 100.0) * 100.0
    if drift is not None:
        income = income * drift.income_multiplier
    income = np.round(np.clip(income, 0.0, 2_000_000.0) / 100.0) * 100.0

    months_emp = np.where(
        emp_code <= 1,
        np.minimum(rng.exponential(55.0, n), np.maximum(age - 16.0, 0.0) * 12.0),
        0.0,
    ).astype(int)

    # --- housing ----------------------------------------------------------------------------------
    u = rng.random(n)
    young = age < 25
    p_owner = np.where(young, 0.01, np.clip((age - 30.0) / 100.0, 0.02, 0.45))
    p_mort = np.where(young, 0.08, 0.40 - 0.5 * p_owner)
    p_lwp = np.where(young, 0.40, 0.05)
    p_other = 0.04
    res_code = np.select(
        [
            u < p_owner,
            u < p_owner + p_mort,
            u < p_owner + p_mort + p_lwp,
            u < p_owner + p_mort + p_lwp + p_other,
        ],
        [0, 1, 3, 4],
        default=2,
    )
    months_addr = np.minimum(
        rng.exponential(np.where(res_code <= 1, 110.0, 40.0), n), np.maximum(age, 1.0) * 12.0
    ).astype(int)
    dependants = rng.choice(np.arange(5), size=n, p=[0.55, 0.18, 0.17, 0.07, 0.03])
    dependants = np.where(age < 20, 0, dependants)

    # --- outgoings and debt -----------------------------------------------------------------------
    # Incomes are whole hundreds, so a chunk has far fewer distinct values than rows.
    distinct, where = np.unique(income, return_inverse=True)
    net_monthly = np.array([net_monthly_income(x) for x in distinct.tolist()], dtype=float)[where]
    expenditure = (
        np.round(
            (np.maximum(net_monthly, 600.0) * rng.uniform(0.32, 0.68, n) + 120.0 * dependants)
            / 10.0
        )
        * 10.0
    )
    has_debt = rng.random(n) < (0.55 + 0.15 * (z < 0))
    debt = np.where(
        has_debt,
        np.maximum(income_before_drift, 6000.0)
        * np.exp(np.log(0.14) - 0.25 * z + 0.8 * rng.standard_normal(n)),
        0.0,
    )
    debt = np.round(np.minimum(debt, 150_000.0) / 10.0) * 10.0
    debt_payments = np.round(debt * rng.uniform(0.025, 0.04, n))

    # --- the loan ---------------------------------------------------------------------------------
    amount = np.exp(np.log(7000.0) + 0.65 * rng.standard_normal(n))
    amount = np.round(np.clip(amount, 1000.0, 25000.0) / 100.0) * 100.0
    term = rng.choice(TERMS, size=n, p=TERM_WEIGHTS / TERM_WEIGHTS.sum())
    purposes, purpose_p = _purpose_probs(drift)
    purpose_idx = rng.choice(len(purposes), size=n, p=purpose_p)
    uk_resident = rng.random(n) < 0.98
    bankrupt = rng.random(n) < 0.01 * np.exp(-0.6 * z) / np.exp(0.18)

    # --- objects, then the signals of all of them at once (`simulate_many` gives exactly what the
    # scalar providers shared with the live pipeline give; tests/modeling/test_synthetic_golden.py)
    residential = [RESIDENTIAL_ORDER[i] for i in res_code.tolist()]
    employment = [EMPLOYMENT_ORDER[i] for i in emp_code.tolist()]
    purpose = [purposes[i] for i in purpose_idx.tolist()]
    apps: list[ApplicationData] = [
        ApplicationData(
            first_name=firsts[i],
            last_name=lasts[i],
            date_of_birth=dobs[i],
            postcode=postcodes[i],
            uk_resident=row[0],
            residential_status=residential[i],
            months_at_address=row[1],
            employment_status=employment[i],
            months_in_employment=row[2],
            annual_income=Decimal(row[3]),
            monthly_expenditure=Decimal(row[4]),
            existing_debt=Decimal(row[5]),
            monthly_debt_payments=Decimal(row[6]),
            dependants=row[7],
            requested_amount=Decimal(row[8]),
            term_months=row[9],
            purpose=purpose[i],
            bankrupt_or_iva=row[10],
            submitted_at=submitted[i],
        )
        for i, row in enumerate(
            zip(
                uk_resident.tolist(),
                months_addr.astype(np.int64).tolist(),
                months_emp.astype(np.int64).tolist(),
                income.astype(np.int64).tolist(),
                expenditure.astype(np.int64).tolist(),
                debt.astype(np.int64).tolist(),
                debt_payments.astype(np.int64).tolist(),
                dependants.astype(np.int64).tolist(),
                amount.astype(np.int64).tolist(),
                term.astype(np.int64).tolist(),
                bankrupt.tolist(),
                strict=True,
            )
        )
    ]
    bureau, kyc, sanctions, fraud = simulate_many(apps, keys=keys, z=z)
    signals: list[Signals] = [
        Signals(bureau=b, kyc=k, sanctions=s, fraud=f)
        for b, k, s, f in zip(bureau, kyc, sanctions, fraud, strict=True)
    ]

    true_pd = _true_pd(
        z=z,
        age=age,
        emp_code=emp_code,
        months_emp=months_emp,
        net_monthly=net_monthly,
        expenditure=expenditure,
        debt_payments=debt_payments,
        amount=amount,
        term=term,
        bankrupt=bankrupt,
        signals=signals,
    )
    defaulted = rng.random(n) < true_pd
    return [
        SyntheticCase(
            app=apps[i], signals=signals[i], true_pd=float(true_pd[i]), defaulted=bool(defaulted[i])
        )
        for i in range(n)
    ]


def _true_pd(
    *,
    z: np.ndarray,
    age: np.ndarray,
    emp_code: np.ndarray,
    months_emp: np.ndarray,
    net_monthly: np.ndarray,
    expenditure: np.ndarray,
    debt_payments: np.ndarray,
    amount: np.ndarray,
    term: np.ndarray,
    bankrupt: np.ndarray,
    signals: Sequence[Signals],
) -> np.ndarray:
    """The ground-truth PD of the module docstring, vectorised."""
    bureau = [s.bureau for s in signals]
    score = np.array([b.score for b in bureau], dtype=float)  # type: ignore[union-attr]
    defaults = np.array([b.defaults_count_6y for b in bureau], dtype=float)  # type: ignore[union-attr]
    ccj = np.array([b.ccj_count_6y for b in bureau], dtype=float)  # type: ignore[union-attr]
    arrears = np.array([b.arrears_count_12m for b in bureau], dtype=float)  # type: ignore[union-attr]
    util = np.array([b.revolving_utilisation for b in bureau], dtype=float)  # type: ignore[union-attr]
    searches = np.array([b.searches_6m for b in bureau], dtype=float)  # type: ignore[union-attr]
    fraud = np.array([s.fraud.fraud_score for s in signals], dtype=float)  # type: ignore[union-attr]

    r = MONTHLY_RATE
    repayment = amount * r / (1.0 - (1.0 + r) ** (-term))
    dsr = (debt_payments + repayment) / np.maximum(net_monthly, 100.0)
    disposable = net_monthly - expenditure - debt_payments - repayment
    emp_term = np.array([0.0, 0.20, 0.70, 0.0, 0.35])[emp_code]

    logit = (
        ALPHA
        - 0.45 * z
        - 0.0025 * (score - 660.0)
        + 0.35 * defaults
        + 0.30 * ccj
        + 0.18 * np.minimum(arrears, 4.0)
        + 0.50 * (util - 0.4)
        + 1.50 * np.maximum(0.0, util - 0.9)
        + 0.25 * np.maximum(0.0, searches - 3.0)
        + 1.60 * np.clip(dsr - 0.30, 0.0, 1.0)
        + 0.70 * (disposable < 0)
        + 0.30 * ((disposable >= 0) & (disposable < 250))
        + emp_term
        + 0.25 * ((emp_code == 0) & (months_emp < 6))
        + 1.00 * bankrupt
        + 0.03 * np.maximum(0.0, 30.0 - age)
        + 0.40 * (age >= 70)
        + 0.50 * ((age < 25) & (util > 0.8))
        + 1.50 * fraud / 100.0
    )
    return 1.0 / (1.0 + np.exp(-logit))


def training_data(
    cases: Sequence[SyntheticCase],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, timestamps) with features computed as of each submission date, via the catalogue."""
    X = build_matrix([(c.app, c.signals, _as_of(c.app)) for c in cases])
    y = np.fromiter((c.defaulted for c in cases), dtype=np.int8, count=len(cases))
    ts = np.array([_ts(c.app) for c in cases], dtype=float)
    return X, y, ts


def _as_of(app: ApplicationData) -> dt.date:
    if app.submitted_at is None:
        raise ValueError("synthetic cases always carry submitted_at")
    return app.submitted_at.date()


def _ts(app: ApplicationData) -> float:
    return app.submitted_at.timestamp() if app.submitted_at is not None else float("nan")


_PAYLOAD_FIELDS = tuple(f for f in ApplicationData.__dataclass_fields__ if f != "submitted_at")


def to_payload(app: ApplicationData) -> dict[str, Any]:
    """The JSON request body of POST /api/v1/applications for this application.

    All fields except `submitted_at` (the server stamps it); dates ISO-8601, money as decimal
    strings (never floats: JSON floats lose pence), enums as their values.
    """
    out: dict[str, Any] = {}
    for name in _PAYLOAD_FIELDS:
        value = getattr(app, name)
        if isinstance(value, Decimal):
            out[name] = str(value)
        elif isinstance(value, dt.date):
            out[name] = value.isoformat()
        elif isinstance(value, (EmploymentStatus, ResidentialStatus, LoanPurpose)):
            out[name] = value.value
        else:
            out[name] = value
    return out


def from_payload(
    d: Mapping[str, Any], *, submitted_at: dt.datetime | None = None
) -> ApplicationData:
    """Inverse of `to_payload`. Raises `ValueError`/`KeyError` on unknown or missing fields."""
    unknown = set(d) - set(_PAYLOAD_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    return ApplicationData(
        first_name=str(d["first_name"]),
        last_name=str(d["last_name"]),
        date_of_birth=dt.date.fromisoformat(d["date_of_birth"]),
        postcode=str(d["postcode"]),
        uk_resident=bool(d["uk_resident"]),
        residential_status=ResidentialStatus(d["residential_status"]),
        months_at_address=int(d["months_at_address"]),
        employment_status=EmploymentStatus(d["employment_status"]),
        months_in_employment=int(d["months_in_employment"]),
        annual_income=Decimal(str(d["annual_income"])),
        monthly_expenditure=Decimal(str(d["monthly_expenditure"])),
        existing_debt=Decimal(str(d["existing_debt"])),
        monthly_debt_payments=Decimal(str(d["monthly_debt_payments"])),
        dependants=int(d["dependants"]),
        requested_amount=Decimal(str(d["requested_amount"])),
        term_months=int(d["term_months"]),
        purpose=LoanPurpose(d["purpose"]),
        bankrupt_or_iva=bool(d.get("bankrupt_or_iva", False)),
        submitted_at=submitted_at,
    )


def true_pd_for(
    cases: Sequence[tuple[ApplicationData, Signals, dt.date]],
) -> np.ndarray:
    """The generator's ground-truth PD of applications that were not generated here (stored
    decisions): the same formula, with the latent quality recovered from the identity. Used to
    simulate loan outcomes in the demo and in tests; it means nothing for real applicants."""
    from decisioning.signals.simulated import latent_quality
    from modeling.features import age_years

    apps = [c[0] for c in cases]
    emp_index = {status: i for i, status in enumerate(EMPLOYMENT_ORDER)}
    return _true_pd(
        z=np.array([latent_quality(a.identity_key()) for a in apps]),
        age=np.array([age_years(a.date_of_birth, d) for a, _, d in cases], dtype=float),
        emp_code=np.array([emp_index[a.employment_status] for a in apps]),
        months_emp=np.array([a.months_in_employment for a in apps], dtype=float),
        net_monthly=np.array([net_monthly_income(float(a.annual_income)) for a in apps]),
        expenditure=np.array([float(a.monthly_expenditure) for a in apps]),
        debt_payments=np.array([float(a.monthly_debt_payments) for a in apps]),
        amount=np.array([float(a.requested_amount) for a in apps]),
        term=np.array([a.term_months for a in apps], dtype=float),
        bankrupt=np.array([a.bankrupt_or_iva for a in apps], dtype=float),
        signals=[c[1] for c in cases],
    )
