"""The feature catalogue: one pure, versioned function per model input, shared by training and serving.

Why one catalogue: a model is only as trustworthy as the guarantee that the numbers it sees in
production are computed exactly as the numbers it was trained on. `build_vector` (one live
application) and `build_matrix` (a training or rescoring batch) both call `_row`, which calls
each spec's `fn` — there is no second implementation to drift apart.

Conventions:
- Missing signal (provider down, not obtained) gives NaN; XGBoost routes NaN down its learned
  default branch, and the rules engine sees `None` (see `rule_context`).
- Categoricals are encoded as small integer codes with a documented, frozen mapping, because
  `Booster.inplace_predict` on a plain float array is the fastest serving path.
- Ratios floor income at `INCOME_FLOOR` so that a zero income gives a large finite ratio, not
  inf/NaN (a zero income is informative, not missing).
- Any change to a function, mapping or constant here must bump `FEATURE_VERSION`: models record
  the version they were trained with, and serving refuses a mismatch upstream.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    FeatureVector,
    ResidentialStatus,
    Signals,
)

FEATURE_VERSION = "fc-1"

# Representative APR used to turn (amount, term) into a monthly repayment before pricing is
# known. 14.9% is a typical UK representative APR for mid-tier unsecured personal loans; the
# feature measures affordability pressure, not the price actually offered. APR is an annual
# *effective* rate under the Consumer Credit Act, so the monthly rate is (1 + APR)^(1/12) - 1.
REPRESENTATIVE_APR = 0.149
MONTHLY_RATE = (1.0 + REPRESENTATIVE_APR) ** (1.0 / 12.0) - 1.0

INCOME_FLOOR = 1000.0  # GBP/year; keeps income ratios finite for nil-income applicants

# Frozen integer codes. Roughly ordered from most to least stable income / housing, but the
# model treats them without monotone constraints.
EMPLOYMENT_CODES: dict[str, int] = {
    EmploymentStatus.EMPLOYED: 0,
    EmploymentStatus.SELF_EMPLOYED: 1,
    EmploymentStatus.RETIRED: 2,
    EmploymentStatus.STUDENT: 3,
    EmploymentStatus.UNEMPLOYED: 4,
}
RESIDENTIAL_CODES: dict[str, int] = {
    ResidentialStatus.OWNER: 0,
    ResidentialStatus.MORTGAGE: 1,
    ResidentialStatus.LIVING_WITH_PARENTS: 2,
    ResidentialStatus.RENT: 3,
    ResidentialStatus.OTHER: 4,
}

NAN = float("nan")

FeatureFn = Callable[[ApplicationData, Signals, dt.date], float]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One model input: what it means, where it comes from, how it may move risk, how to explain it.

    `monotone` is the constraint given to the model: +1 risk may only rise as the value grows,
    -1 risk may only fall, 0 unconstrained. `reason_code` / `reason_text` are what a declined
    customer is told when this feature pushes their risk up (wording is customer-facing).
    """

    name: str
    dtype: Literal["numeric", "categorical"]
    description: str
    lineage_kind: Literal["application", "signal", "derived"]
    lineage_source: str
    monotone: int
    reason_code: str
    reason_text: str
    fn: FeatureFn
    valid_min: float | None = None
    valid_max: float | None = None
    categories: tuple[tuple[str, int], ...] = ()
    version: str = FEATURE_VERSION


# --- helpers shared by features and by the synthetic ground truth -----------------------------


def age_years(date_of_birth: dt.date, as_of: dt.date) -> int:
    """Completed years of age at `as_of` (a birthday counts on the day)."""
    years = as_of.year - date_of_birth.year
    if (as_of.month, as_of.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def annuity_payment(amount: float, term_months: int, monthly_rate: float = MONTHLY_RATE) -> float:
    """Level monthly repayment of an amortising loan."""
    if term_months <= 0:
        return amount
    if monthly_rate == 0.0:
        return amount / term_months
    return amount * monthly_rate / (1.0 - (1.0 + monthly_rate) ** (-term_months))


def net_monthly_income(annual_gross: float) -> float:
    """Approximate take-home pay: England 2025/26 income tax and class 1 employee NI.

    Good enough for an affordability *feature*; it ignores pensions, student loans, Scotland and
    self-employed class 4 differences. The personal allowance tapers above £100k.
    """
    g = max(0.0, annual_gross)
    allowance = max(0.0, 12570.0 - max(0.0, g - 100000.0) / 2.0)
    taxable = max(0.0, g - allowance)
    basic = min(taxable, 37700.0)
    higher = min(max(0.0, taxable - 37700.0), 125140.0 - 37700.0)
    additional = max(0.0, taxable - 125140.0)
    tax = 0.20 * basic + 0.40 * higher + 0.45 * additional
    ni = 0.08 * max(0.0, min(g, 50270.0) - 12570.0) + 0.02 * max(0.0, g - 50270.0)
    return (g - tax - ni) / 12.0


# --- feature functions ------------------------------------------------------------------------


def _age(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(age_years(app.date_of_birth, as_of))


def _annual_income(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.annual_income)


def _debt_to_income(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.existing_debt) / max(float(app.annual_income), INCOME_FLOOR)


def _loan_to_income(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.requested_amount) / max(float(app.annual_income), INCOME_FLOOR)


def _monthly_repayment(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return annuity_payment(float(app.requested_amount), app.term_months)


def _disposable_income(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return (
        net_monthly_income(float(app.annual_income))
        - float(app.monthly_expenditure)
        - float(app.monthly_debt_payments)
        - annuity_payment(float(app.requested_amount), app.term_months)
    )


def _bureau(field: str) -> FeatureFn:
    def fn(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
        return NAN if s.bureau is None else float(getattr(s.bureau, field))

    fn.__name__ = f"_bureau_{field}"
    return fn


def _months_at_address(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.months_at_address)


def _months_in_employment(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.months_in_employment)


def _employment_status(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    code = EMPLOYMENT_CODES.get(app.employment_status)
    return NAN if code is None else float(code)


def _residential_status(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    code = RESIDENTIAL_CODES.get(app.residential_status)
    return NAN if code is None else float(code)


def _dependants(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.dependants)


def _term_months(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return float(app.term_months)


def _fraud_score(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return NAN if s.fraud is None else float(s.fraud.fraud_score)


def _identity_score(app: ApplicationData, s: Signals, as_of: dt.date) -> float:
    return NAN if s.kyc is None else float(s.kyc.identity_score)


def _codes(mapping: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple((str(k), v) for k, v in mapping.items())


CATALOGUE: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        name="age",
        dtype="numeric",
        description="Completed years of age at the decision date",
        lineage_kind="derived",
        lineage_source="as_of - application.date_of_birth",
        monotone=0,
        reason_code="R_AGE",
        reason_text="Your age and the length of your credit history",
        fn=_age,
        valid_min=0,
        valid_max=120,
    ),
    FeatureSpec(
        name="annual_income",
        dtype="numeric",
        description="Gross annual income declared by the applicant (GBP)",
        lineage_kind="application",
        lineage_source="application.annual_income",
        monotone=-1,
        reason_code="R_INCOME",
        reason_text="Your income is low for the credit requested",
        fn=_annual_income,
        valid_min=0,
        valid_max=10000000,
    ),
    FeatureSpec(
        name="debt_to_income",
        dtype="numeric",
        description="Existing unsecured debt / gross annual income",
        lineage_kind="derived",
        lineage_source="existing_debt / max(annual_income, 1000)",
        monotone=1,
        reason_code="R_DTI",
        reason_text="Your existing debt is high compared with your income",
        fn=_debt_to_income,
        valid_min=0,
    ),
    FeatureSpec(
        name="loan_to_income",
        dtype="numeric",
        description="Requested amount / gross annual income",
        lineage_kind="derived",
        lineage_source="requested_amount / max(annual_income, 1000)",
        monotone=1,
        reason_code="R_LTI",
        reason_text="The amount requested is high compared with your income",
        fn=_loan_to_income,
        valid_min=0,
    ),
    FeatureSpec(
        name="monthly_repayment",
        dtype="numeric",
        description=(
            f"Annuity repayment at a representative {REPRESENTATIVE_APR:.1%} APR (GBP/month)"
        ),
        lineage_kind="derived",
        lineage_source="annuity(requested_amount, term_months, APR 14.9%)",
        monotone=1,
        reason_code="R_REPAYMENT",
        reason_text="The monthly repayment would be high for your circumstances",
        fn=_monthly_repayment,
        valid_min=0,
    ),
    FeatureSpec(
        name="disposable_income",
        dtype="numeric",
        description="Net monthly income after expenditure, existing debt payments and the new repayment",
        lineage_kind="derived",
        lineage_source=(
            "net_monthly(annual_income) - monthly_expenditure - monthly_debt_payments"
            " - monthly_repayment"
        ),
        monotone=-1,
        reason_code="R_AFFORD",
        reason_text="The money you would have left each month after this loan is low",
        fn=_disposable_income,
    ),
    FeatureSpec(
        name="bureau_score",
        dtype="numeric",
        description="Credit reference agency score, 0..999, higher is better",
        lineage_kind="signal",
        lineage_source="bureau.score",
        monotone=-1,
        reason_code="R_BUREAU_SCORE",
        reason_text="Your credit score from the credit reference agency is low",
        fn=_bureau("score"),
        valid_min=0,
        valid_max=999,
    ),
    FeatureSpec(
        name="revolving_utilisation",
        dtype="numeric",
        description="Balances / limits on revolving credit (0..1.2)",
        lineage_kind="signal",
        lineage_source="bureau.revolving_utilisation",
        monotone=1,
        reason_code="R_UTILISATION",
        reason_text="You are using a high proportion of your available credit",
        fn=_bureau("revolving_utilisation"),
        valid_min=0,
        valid_max=1.2,
    ),
    FeatureSpec(
        name="searches_6m",
        dtype="numeric",
        description="Hard credit searches in the last 6 months",
        lineage_kind="signal",
        lineage_source="bureau.searches_6m",
        monotone=1,
        reason_code="R_SEARCHES",
        reason_text="You have applied for credit several times recently",
        fn=_bureau("searches_6m"),
        valid_min=0,
        valid_max=50,
    ),
    FeatureSpec(
        name="arrears_count_12m",
        dtype="numeric",
        description="Missed or late payments in the last 12 months",
        lineage_kind="signal",
        lineage_source="bureau.arrears_count_12m",
        monotone=1,
        reason_code="R_ARREARS",
        reason_text="You have missed payments in the last 12 months",
        fn=_bureau("arrears_count_12m"),
        valid_min=0,
        valid_max=50,
    ),
    FeatureSpec(
        name="ccj_count_6y",
        dtype="numeric",
        description="County court judgments in the last 6 years",
        lineage_kind="signal",
        lineage_source="bureau.ccj_count_6y",
        monotone=1,
        reason_code="R_CCJ",
        reason_text="You have a county court judgment registered in the last 6 years",
        fn=_bureau("ccj_count_6y"),
        valid_min=0,
        valid_max=50,
    ),
    FeatureSpec(
        name="defaults_count_6y",
        dtype="numeric",
        description="Defaulted accounts in the last 6 years",
        lineage_kind="signal",
        lineage_source="bureau.defaults_count_6y",
        monotone=1,
        reason_code="R_DEFAULTS",
        reason_text="You have defaulted on credit in the last 6 years",
        fn=_bureau("defaults_count_6y"),
        valid_min=0,
        valid_max=50,
    ),
    FeatureSpec(
        name="months_at_address",
        dtype="numeric",
        description="Months at the current address",
        lineage_kind="application",
        lineage_source="application.months_at_address",
        monotone=-1,
        reason_code="R_ADDRESS_TIME",
        reason_text="You have lived at your current address for a short time",
        fn=_months_at_address,
        valid_min=0,
        valid_max=1200,
    ),
    FeatureSpec(
        name="months_in_employment",
        dtype="numeric",
        description="Months with the current employer (0 if not employed)",
        lineage_kind="application",
        lineage_source="application.months_in_employment",
        monotone=-1,
        reason_code="R_EMPLOYMENT_TIME",
        reason_text="You have been in your current employment for a short time",
        fn=_months_in_employment,
        valid_min=0,
        valid_max=900,
    ),
    FeatureSpec(
        name="employment_status",
        dtype="categorical",
        description="Employment status as a frozen integer code",
        lineage_kind="application",
        lineage_source="application.employment_status",
        monotone=0,
        reason_code="R_EMPLOYMENT_STATUS",
        reason_text="Your employment status",
        fn=_employment_status,
        valid_min=0,
        valid_max=4,
        categories=_codes(EMPLOYMENT_CODES),
    ),
    FeatureSpec(
        name="residential_status",
        dtype="categorical",
        description="Residential status as a frozen integer code",
        lineage_kind="application",
        lineage_source="application.residential_status",
        monotone=0,
        reason_code="R_RESIDENTIAL",
        reason_text="Your residential status",
        fn=_residential_status,
        valid_min=0,
        valid_max=4,
        categories=_codes(RESIDENTIAL_CODES),
    ),
    FeatureSpec(
        name="dependants",
        dtype="numeric",
        description="Number of financial dependants",
        lineage_kind="application",
        lineage_source="application.dependants",
        monotone=1,
        reason_code="R_DEPENDANTS",
        reason_text="Your household commitments leave less room for repayments",
        fn=_dependants,
        valid_min=0,
        valid_max=20,
    ),
    FeatureSpec(
        name="term_months",
        dtype="numeric",
        description="Requested loan term in months",
        lineage_kind="application",
        lineage_source="application.term_months",
        monotone=0,
        reason_code="R_TERM",
        reason_text="The loan term requested",
        fn=_term_months,
        valid_min=1,
        valid_max=120,
    ),
    FeatureSpec(
        name="fraud_score",
        dtype="numeric",
        description="Fraud provider risk score, 0..100, higher is riskier",
        lineage_kind="signal",
        lineage_source="fraud.fraud_score",
        monotone=1,
        # Deliberately vague wording: fraud indicators are not disclosed to applicants.
        reason_code="R_VERIFICATION",
        reason_text="We could not verify some of the details in your application",
        fn=_fraud_score,
        valid_min=0,
        valid_max=100,
    ),
    FeatureSpec(
        name="identity_score",
        dtype="numeric",
        description="KYC identity match strength, 0..100",
        lineage_kind="signal",
        lineage_source="kyc.identity_score",
        monotone=-1,
        reason_code="R_IDENTITY",
        reason_text="We could not fully confirm your identity",
        fn=_identity_score,
        valid_min=0,
        valid_max=100,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in CATALOGUE)
SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in CATALOGUE}
_FNS: tuple[FeatureFn, ...] = tuple(spec.fn for spec in CATALOGUE)


def monotone_constraints() -> dict[str, int]:
    """Catalogue monotone directions, the default constraints for training."""
    return {spec.name: spec.monotone for spec in CATALOGUE}


def reason_map() -> dict[str, tuple[str, str]]:
    """feature name -> (reason code, customer wording), stored with every registered model."""
    return {spec.name: (spec.reason_code, spec.reason_text) for spec in CATALOGUE}


def _row(app: ApplicationData, signals: Signals, as_of: dt.date) -> list[float]:
    """The single implementation behind both `build_vector` and `build_matrix`."""
    return [fn(app, signals, as_of) for fn in _FNS]


def build_vector(app: ApplicationData, signals: Signals, *, as_of: dt.date) -> FeatureVector:
    """Features of one application at the decision date (serving path)."""
    return FeatureVector(
        version=FEATURE_VERSION, names=FEATURE_NAMES, values=tuple(_row(app, signals, as_of))
    )


#: The features whose functions read the loan's amount or term — what a counterfactual hint varies.
#: tests/modeling/test_feature_catalogue.py checks this set against the functions on varied loans.
LOAN_FEATURES = frozenset({"loan_to_income", "monthly_repayment", "disposable_income", "term_months"})
_LOAN_INDICES = tuple(i for i, name in enumerate(FEATURE_NAMES) if name in LOAN_FEATURES)


def build_loan_variant(base: FeatureVector, app: ApplicationData, signals: Signals, *, as_of: dt.date) -> FeatureVector:
    """`build_vector(app, signals, as_of=as_of)` when `base` is that of an application differing
    from `app` only in its loan amount or term: only the loan features are computed again."""
    if base.version != FEATURE_VERSION or base.names != FEATURE_NAMES:
        return build_vector(app, signals, as_of=as_of)
    values = list(base.values)
    for i in _LOAN_INDICES:
        values[i] = _FNS[i](app, signals, as_of)
    return FeatureVector(version=FEATURE_VERSION, names=FEATURE_NAMES, values=tuple(values))


def build_matrix(cases: Sequence[tuple[ApplicationData, Signals, dt.date]]) -> np.ndarray:
    """Features of many applications, shape (n, len(FEATURE_NAMES)), float64, NaN for missing.

    Row i equals `build_vector(*cases[i]).values` exactly: same functions, same float64 values.
    """
    out = np.empty((len(cases), len(_FNS)), dtype=np.float64)
    for i, (app, signals, as_of) in enumerate(cases):
        out[i] = _row(app, signals, as_of)
    return out


def catalogue_as_rows() -> list[dict[str, Any]]:
    """The catalogue as plain dicts (docs, admin help, the model's registry artefact)."""
    return [
        {
            "name": spec.name,
            "dtype": spec.dtype,
            "description": spec.description,
            "lineage_kind": spec.lineage_kind,
            "lineage_source": spec.lineage_source,
            "monotone": spec.monotone,
            "reason_code": spec.reason_code,
            "reason_text": spec.reason_text,
            "valid_min": spec.valid_min,
            "valid_max": spec.valid_max,
            "categories": dict(spec.categories),
            "version": spec.version,
            "function": spec.fn.__name__,
        }
        for spec in CATALOGUE
    ]


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def rule_context(
    app: ApplicationData,
    signals: Signals,
    vector: FeatureVector,
    score_pd: float | None,
) -> dict[str, dict[str, Any]]:
    """What the rules engine reads, by namespace.

    Money is given as `float` so that rule expressions can mix it with float thresholds
    (Decimal * float raises); policy thresholds never need pence precision. A missing signal
    gives `None` for each of its fields, so a rule can test for absence explicitly.
    """
    features = {name: _none_if_nan(v) for name, v in zip(vector.names, vector.values, strict=True)}
    b, k, sa, fr = signals.bureau, signals.kyc, signals.sanctions, signals.fraud
    return {
        "applicant": {
            "age": features.get("age"),
            "uk_resident": app.uk_resident,
            "bankrupt_or_iva": app.bankrupt_or_iva,
            "employment_status": str(app.employment_status),
            "residential_status": str(app.residential_status),
            "months_at_address": app.months_at_address,
            "months_in_employment": app.months_in_employment,
            "annual_income": float(app.annual_income),
            "monthly_expenditure": float(app.monthly_expenditure),
            "existing_debt": float(app.existing_debt),
            "monthly_debt_payments": float(app.monthly_debt_payments),
            "dependants": app.dependants,
            "postcode": app.postcode,
        },
        "loan": {
            "requested_amount": float(app.requested_amount),
            "term_months": app.term_months,
            "purpose": str(app.purpose),
        },
        "bureau": {
            "score": None if b is None else b.score,
            "ccj_count_6y": None if b is None else b.ccj_count_6y,
            "defaults_count_6y": None if b is None else b.defaults_count_6y,
            "arrears_count_12m": None if b is None else b.arrears_count_12m,
            "searches_6m": None if b is None else b.searches_6m,
            "revolving_utilisation": None if b is None else b.revolving_utilisation,
            "total_unsecured_balance": None if b is None else float(b.total_unsecured_balance),
        },
        "kyc": {
            "status": None if k is None else str(k.status),
            "identity_score": None if k is None else k.identity_score,
        },
        "sanctions": {
            "sanctions_hit": None if sa is None else sa.sanctions_hit,
            "pep_hit": None if sa is None else sa.pep_hit,
        },
        "fraud": {
            "fraud_score": None if fr is None else fr.fraud_score,
            "device_risk": None if fr is None else fr.device_risk,
        },
        "features": features,
        "model": {"pd": score_pd},
        "signals": {"missing": list(signals.missing)},
    }
