"""Value objects of the decision core.

The core (this package and `modeling.features` / `modeling.scoring`) imports nothing from Django:
it takes these frozen dataclasses and returns them, so a decision is a pure function of its
inputs and can be replayed years later from what was stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


class RuleAction(StrEnum):
    DECLINE = "decline"
    REFER = "refer"
    ADJUST_SCORE = "adjust_score"
    CAP_AMOUNT = "cap_amount"


class EmploymentStatus(StrEnum):
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    STUDENT = "student"


class ResidentialStatus(StrEnum):
    OWNER = "owner"
    MORTGAGE = "mortgage"
    RENT = "rent"
    LIVING_WITH_PARENTS = "living_with_parents"
    OTHER = "other"


class LoanPurpose(StrEnum):
    DEBT_CONSOLIDATION = "debt_consolidation"
    HOME_IMPROVEMENT = "home_improvement"
    CAR = "car"
    WEDDING = "wedding"
    HOLIDAY = "holiday"
    MEDICAL = "medical"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ApplicationData:
    """An applicant and the credit asked for, as submitted. Money is GBP `Decimal`."""

    first_name: str
    last_name: str
    date_of_birth: dt.date
    postcode: str
    uk_resident: bool
    residential_status: ResidentialStatus
    months_at_address: int
    employment_status: EmploymentStatus
    months_in_employment: int
    annual_income: Decimal
    monthly_expenditure: Decimal
    existing_debt: Decimal
    monthly_debt_payments: Decimal
    dependants: int
    requested_amount: Decimal
    term_months: int
    purpose: LoanPurpose
    bankrupt_or_iva: bool = False
    submitted_at: dt.datetime | None = None

    def identity_key(self) -> str:
        """Stable identity used to key third-party look-ups (not a secret, not shown to clients)."""
        return f"{self.first_name.strip().lower()}|{self.last_name.strip().lower()}|{self.date_of_birth.isoformat()}|{self.postcode.replace(' ', '').upper()}"


class KycStatus(StrEnum):
    PASS = "pass"
    REFER = "refer"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class BureauSignal:
    score: int  # 0..999, higher is better
    ccj_count_6y: int
    defaults_count_6y: int
    arrears_count_12m: int
    searches_6m: int
    revolving_utilisation: float  # 0..1+
    total_unsecured_balance: Decimal


@dataclass(frozen=True, slots=True)
class KycSignal:
    status: KycStatus
    identity_score: int  # 0..100


@dataclass(frozen=True, slots=True)
class SanctionsSignal:
    sanctions_hit: bool
    pep_hit: bool


@dataclass(frozen=True, slots=True)
class FraudSignal:
    fraud_score: int  # 0..100, higher is riskier
    device_risk: str  # "low" | "medium" | "high"


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """What one provider answered for one decision, enough to replay it with no call."""

    provider: str
    provider_version: str
    signal_type: str  # "bureau" | "kyc" | "sanctions" | "fraud"
    ok: bool
    response: dict[str, Any]
    response_sha256: str
    latency_ms: float
    fetched_at: dt.datetime
    cache_hit: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class Signals:
    """The third-party evidence for one decision. A `None` signal was required but not obtained."""

    bureau: BureauSignal | None
    kyc: KycSignal | None
    sanctions: SanctionsSignal | None
    fraud: FraudSignal | None
    records: tuple[SignalRecord, ...] = ()

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(
            name
            for name in ("bureau", "kyc", "sanctions", "fraud")
            if getattr(self, name) is None
        )


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """Model inputs in catalogue order, with the catalogue version that produced them."""

    version: str
    names: tuple[str, ...]
    values: tuple[float, ...]  # NaN for missing

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    description: str
    source: str  # "rule" | "model" | "signal"
    weight: float = 0.0


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A model's view of one application."""

    model_name: str
    model_version: str
    model_hash: str
    pd: float
    pd_lower: float
    pd_upper: float
    contributions: tuple[tuple[str, float], ...]  # (feature, log-odds contribution), all features
    reasons: tuple[ReasonCode, ...] = ()  # top adverse factors


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    rule_version: str
    name: str
    fired: bool
    action: RuleAction
    reason_code: str
    inputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    parameter: float | None = None  # score adjustment (PD points) or amount cap (GBP)


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Approve at or below `approve_max_pd`, decline above `decline_min_pd`, refer between."""

    approve_max_pd: float
    decline_min_pd: float


@dataclass(frozen=True, slots=True)
class DecisionResult:
    outcome: Outcome
    pd: float | None
    pd_lower: float | None
    pd_upper: float | None
    reasons: tuple[ReasonCode, ...]
    rule_results: tuple[RuleResult, ...]
    features: FeatureVector
    score: ScoreResult | None
    ruleset_version: str
    degraded: bool
    approved_amount: Decimal | None = None
    counterfactual: dict[str, Any] | None = None
