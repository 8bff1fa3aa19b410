"""The decision itself: a pure function of the application, its signals, a policy and a model.

Steps 4–7 of DESIGN.md's "one decision path" (features → score → rules → outcome). Everything that
decides — the API, batches, simulations and replay — calls `decide`; persistence, idempotency and
signal fetching live in `decisioning.services`.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Protocol

from decisioning.engine.policy import Policy
from decisioning.engine.reasons import describe
from decisioning.engine.types import (
    ApplicationData,
    DecisionResult,
    FeatureVector,
    Outcome,
    ReasonCode,
    RuleAction,
    RuleResult,
    ScoreResult,
    Signals,
)
from modeling.features import build_vector, rule_context


class Scorer(Protocol):
    model_name: str
    model_version: str

    def score(self, vector: FeatureVector) -> ScoreResult: ...


def _rule_reason(result: RuleResult) -> ReasonCode:
    return ReasonCode(code=result.reason_code, description=describe(result.reason_code), source="rule")


def _system_reason(code: str) -> ReasonCode:
    return ReasonCode(code=code, description=describe(code), source="signal" if code.startswith("MISSING_") else "system")


def decide(
    app: ApplicationData,
    *,
    signals: Signals,
    policy: Policy,
    scorer: Scorer | None,
    as_of: dt.date,
) -> DecisionResult:
    """Decide one application. Precedence: hard-gate decline > refer triggers > PD cut-offs.

    Fails closed: a missing signal, a missing model or a rule that cannot be evaluated can make a
    decision refer or decline, never approve.
    """
    features = build_vector(app, signals, as_of=as_of)
    score = scorer.score(features) if scorer is not None else None
    pd = score.pd if score is not None else None
    results = policy.evaluate(rule_context(app, signals, features, pd))
    fired = [r for r in results if r.fired]

    missing = signals.missing
    refer_reasons: list[ReasonCode] = [_system_reason(f"MISSING_{name.upper()}") for name in missing]
    for r in results:
        if r.error and not any(path.split(".")[0] in missing for path in r.inputs):
            refer_reasons.append(
                ReasonCode(code="RULE_ERROR", description=f"Rule {r.rule_id} could not be evaluated: {r.error}", source="rule")
            )
    if score is None:
        refer_reasons.append(_system_reason("MODEL_UNAVAILABLE"))
    refer_reasons += [_rule_reason(r) for r in fired if r.action == RuleAction.REFER]

    adjusted_pd = pd
    if pd is not None:
        shift = sum(r.parameter or 0.0 for r in fired if r.action == RuleAction.ADJUST_SCORE)
        adjusted_pd = min(1.0, max(0.0, pd + shift))
    caps = [r.parameter for r in fired if r.action == RuleAction.CAP_AMOUNT and r.parameter is not None]

    model_reasons = score.reasons if score is not None else ()
    declines = [_rule_reason(r) for r in fired if r.action == RuleAction.DECLINE]
    if declines:
        outcome, reasons = Outcome.DECLINE, tuple(declines)
    elif refer_reasons:
        outcome, reasons = Outcome.REFER, tuple(refer_reasons) + tuple(model_reasons)
    else:
        assert adjusted_pd is not None and not math.isnan(adjusted_pd)
        if adjusted_pd <= policy.cutoffs.approve_max_pd:
            outcome, reasons = Outcome.APPROVE, ()
        elif adjusted_pd > policy.cutoffs.decline_min_pd:
            outcome, reasons = Outcome.DECLINE, (_system_reason("PD_ABOVE_CUTOFF"), *model_reasons)
        else:
            outcome, reasons = Outcome.REFER, (_system_reason("PD_REFER_BAND"), *model_reasons)

    approved_amount: Decimal | None = None
    if outcome == Outcome.APPROVE:
        approved_amount = app.requested_amount
        if caps and Decimal(str(min(caps))) < approved_amount:
            approved_amount = Decimal(str(min(caps))).quantize(Decimal("0.01"))
            reasons = (_system_reason("AMOUNT_CAPPED"),)

    return DecisionResult(
        outcome=outcome,
        pd=adjusted_pd,
        pd_lower=score.pd_lower if score is not None else None,
        pd_upper=score.pd_upper if score is not None else None,
        reasons=reasons,
        rule_results=results,
        features=features,
        score=score,
        ruleset_version=policy.version,
        degraded=bool(missing) or score is None,
        approved_amount=approved_amount,
    )
