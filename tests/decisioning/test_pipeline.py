"""The pure decision core: precedence, fail-closed behaviour, adjustments. No database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from decisioning.engine.pipeline import decide
from decisioning.engine.policy import BUILTIN_POLICY, Policy, Rule, read
from decisioning.engine.types import (
    ApplicationData,
    Cutoffs,
    EmploymentStatus,
    FeatureVector,
    KycSignal,
    KycStatus,
    LoanPurpose,
    Outcome,
    ReasonCode,
    ResidentialStatus,
    RuleAction,
    SanctionsSignal,
    ScoreResult,
    Signals,
)
from decisioning.signals.gateway import fetch_signals, record_to_json, signals_from_stored

AS_OF = dt.date(2026, 12, 4)


class FixedScorer:
    model_name = "fixed"
    model_version = "0"

    def __init__(self, pd: float) -> None:
        self.pd = pd

    def score(self, vector: FeatureVector) -> ScoreResult:
        return ScoreResult(
            model_name="fixed", model_version="0", model_hash="h", pd=self.pd,
            pd_lower=self.pd / 2, pd_upper=min(1.0, self.pd * 2), contributions=(("bureau_score", 0.3),),
            reasons=(ReasonCode("R_BUREAU", "Your credit score is low", "model", 0.3),),
        )


def app(**changes: Any) -> ApplicationData:
    base = ApplicationData(
        first_name="Grace", last_name="Patel", date_of_birth=dt.date(1985, 4, 12), postcode="LS1 4AP",
        uk_resident=True, residential_status=ResidentialStatus.MORTGAGE, months_at_address=96,
        employment_status=EmploymentStatus.EMPLOYED, months_in_employment=72,
        annual_income=Decimal("52000"), monthly_expenditure=Decimal("900"), existing_debt=Decimal("1000"),
        monthly_debt_payments=Decimal("50"), dependants=0, requested_amount=Decimal("5000"),
        term_months=36, purpose=LoanPurpose.CAR,
    )
    return dataclasses.replace(base, **changes)


def clean_signals(a: ApplicationData) -> Signals:
    s = fetch_signals(a, now=dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
    return dataclasses.replace(
        s, kyc=KycSignal(KycStatus.PASS, 90), sanctions=SanctionsSignal(False, False)
    )


@pytest.mark.parametrize(
    ("pd", "outcome", "first_reason"),
    [(0.01, Outcome.APPROVE, None), (0.08, Outcome.APPROVE, None), (0.15, Outcome.REFER, "PD_REFER_BAND"),
     (0.25, Outcome.REFER, "PD_REFER_BAND"), (0.2501, Outcome.DECLINE, "PD_ABOVE_CUTOFF")],
)
def test_cutoffs_decide_clean_applications(pd: float, outcome: Outcome, first_reason: str | None) -> None:
    a = app()
    result = decide(a, signals=clean_signals(a), policy=BUILTIN_POLICY, scorer=FixedScorer(pd), as_of=AS_OF)
    assert result.outcome == outcome
    assert (result.reasons[0].code if result.reasons else None) == first_reason
    if outcome != Outcome.APPROVE:
        assert "R_BUREAU" in [r.code for r in result.reasons]  # model reasons explain score outcomes


def test_a_hard_gate_declines_whatever_the_score() -> None:
    a = app(uk_resident=False)
    result = decide(a, signals=clean_signals(a), policy=BUILTIN_POLICY, scorer=FixedScorer(0.001), as_of=AS_OF)
    assert result.outcome == Outcome.DECLINE
    assert [r.code for r in result.reasons] == ["NOT_UK_RESIDENT"]


def test_a_hard_gate_decline_beats_a_refer_trigger() -> None:
    a = app(bankrupt_or_iva=True)
    s = dataclasses.replace(clean_signals(a), kyc=KycSignal(KycStatus.REFER, 40))
    result = decide(a, signals=s, policy=BUILTIN_POLICY, scorer=FixedScorer(0.01), as_of=AS_OF)
    assert result.outcome == Outcome.DECLINE and [r.code for r in result.reasons] == ["BANKRUPTCY_IVA"]


@pytest.mark.parametrize("missing", ["bureau", "kyc", "sanctions", "fraud"])
def test_a_missing_signal_refers_and_never_approves(missing: str) -> None:
    a = app()
    s = dataclasses.replace(clean_signals(a), **{missing: None})
    result = decide(a, signals=s, policy=BUILTIN_POLICY, scorer=FixedScorer(0.001), as_of=AS_OF)
    assert result.outcome == Outcome.REFER
    assert f"MISSING_{missing.upper()}" in [r.code for r in result.reasons]
    assert result.degraded
    assert "RULE_ERROR" not in [r.code for r in result.reasons]  # the missing data is the reason


def test_no_model_refers() -> None:
    a = app()
    result = decide(a, signals=clean_signals(a), policy=BUILTIN_POLICY, scorer=None, as_of=AS_OF)
    assert result.outcome == Outcome.REFER and result.pd is None and result.degraded
    assert "MODEL_UNAVAILABLE" in [r.code for r in result.reasons]


def _policy(*rules: Rule) -> Policy:
    return Policy(version="t-1", rules=rules, cutoffs=Cutoffs(approve_max_pd=0.1, decline_min_pd=0.3))


def test_a_rule_that_errors_fails_closed_to_refer() -> None:
    broken = Rule(id="broken", version="1", name="Broken", action=RuleAction.DECLINE, reason_code="X",
                  reads=("applicant.nope",), condition=lambda c: read(c, "applicant.nope") > 1)
    a = app()
    result = decide(a, signals=clean_signals(a), policy=_policy(broken), scorer=FixedScorer(0.01), as_of=AS_OF)
    assert result.outcome == Outcome.REFER
    assert result.reasons[0].code == "RULE_ERROR" and "broken" in result.reasons[0].description
    assert result.rule_results[0].error


def test_score_adjustments_and_amount_caps_apply() -> None:
    bump = Rule(id="bump", version="1", name="Bump", action=RuleAction.ADJUST_SCORE, reason_code="ADJ",
                reads=(), condition=lambda c: True, parameter=0.05)
    cap = Rule(id="cap", version="1", name="Cap", action=RuleAction.CAP_AMOUNT, reason_code="CAP",
               reads=(), condition=lambda c: True, parameter=3000.0)
    a = app()
    result = decide(a, signals=clean_signals(a), policy=_policy(bump, cap), scorer=FixedScorer(0.04), as_of=AS_OF)
    assert result.pd == pytest.approx(0.09)
    assert result.outcome == Outcome.APPROVE and result.approved_amount == Decimal("3000.00")
    assert [r.code for r in result.reasons] == ["AMOUNT_CAPPED"]
    pushed = decide(a, signals=clean_signals(a), policy=_policy(bump), scorer=FixedScorer(0.07), as_of=AS_OF)
    assert pushed.outcome == Outcome.REFER


def test_every_rule_result_is_recorded_with_its_inputs() -> None:
    a = app()
    result = decide(a, signals=clean_signals(a), policy=BUILTIN_POLICY, scorer=FixedScorer(0.01), as_of=AS_OF)
    assert [r.rule_id for r in result.rule_results] == [r.id for r in BUILTIN_POLICY.rules]
    under_18 = next(r for r in result.rule_results if r.rule_id == "under_18")
    assert under_18.inputs == {"applicant.age": 41} and not under_18.fired


def test_decisions_replay_identically_from_stored_signals() -> None:
    a = app()
    s = fetch_signals(a, now=dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
    stored = [record_to_json(r) for r in s.records]
    again = signals_from_stored(stored)
    assert (again.bureau, again.kyc, again.sanctions, again.fraud) == (s.bureau, s.kyc, s.sanctions, s.fraud)
    first = decide(a, signals=s, policy=BUILTIN_POLICY, scorer=FixedScorer(0.12), as_of=AS_OF)
    second = decide(a, signals=again, policy=BUILTIN_POLICY, scorer=FixedScorer(0.12), as_of=AS_OF)
    assert first == second
