"""The decision itself: a pure function of the application, its signals, a policy and a model.

Steps 4-7 of DESIGN.md's "one decision path" (features → score → rules → outcome). Everything that
decides — the API, batches, simulations and replay — calls `decide`; persistence, idempotency and
signal fetching live in `decisioning.services`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

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
from modeling.features import build_loan_variant, build_vector, rule_context


class Scorer(Protocol):
    model_name: str
    model_version: str

    def score(self, vector: FeatureVector) -> ScoreResult: ...

    def pd_only(self, vectors: list[FeatureVector]) -> list[float]: ...


def _rule_reason(result: RuleResult, policy: Policy) -> ReasonCode:
    # The wording frozen into the policy version (the managed catalogue) wins over the default.
    text = policy.reason_text(result.reason_code) or describe(result.reason_code)
    return ReasonCode(code=result.reason_code, description=text, source="rule")


def _system_reason(code: str) -> ReasonCode:
    return ReasonCode(code=code, description=describe(code), source="signal" if code.startswith("MISSING_") else "system")


@dataclass(frozen=True, slots=True)
class Limits:
    """The product's lending limits: the space a counterfactual hint may search."""

    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int


def decide(
    app: ApplicationData,
    *,
    signals: Signals,
    policy: Policy,
    scorer: Scorer | None,
    as_of: dt.date,
    limits: Limits | None = None,
) -> DecisionResult:
    """Decide one application. Precedence: hard-gate decline > refer triggers > PD cut-offs.

    Fails closed: a missing signal, a missing model or a rule that cannot be evaluated can make a
    decision refer or decline, never approve. With `limits`, a decline or refer also carries a
    counterfactual hint (see `counterfactual`).
    """
    features = build_vector(app, signals, as_of=as_of)
    score = scorer.score(features) if scorer is not None else None
    result = resolve(app, signals=signals, policy=policy, features=features, score=score)
    if limits is not None and scorer is not None and result.outcome != Outcome.APPROVE:
        hint = counterfactual(app, signals=signals, policy=policy, scorer=scorer, as_of=as_of,
                              limits=limits, outcome=result.outcome, result=result)
        result = replace(result, counterfactual=hint)
    return result


def resolve(
    app: ApplicationData,
    *,
    signals: Signals,
    policy: Policy,
    features: FeatureVector,
    score: ScoreResult | None,
    rule_results: tuple[RuleResult, ...] | None = None,
) -> DecisionResult:
    """Steps 5 and 7: rules over the context, then the outcome by precedence.

    `rule_results`, when given, are this policy's results for this application (the counterfactual
    search passes them, re-evaluating only the rules a change of amount or term can move)."""
    pd = score.pd if score is not None else None
    if rule_results is None:
        rule_results = policy.evaluate(rule_context(app, signals, features, pd))
    results = rule_results
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
    refer_reasons += [_rule_reason(r, policy) for r in fired if r.action == RuleAction.REFER]

    adjusted_pd = pd
    if pd is not None:
        shift = sum(r.parameter or 0.0 for r in fired if r.action == RuleAction.ADJUST_SCORE)
        adjusted_pd = min(1.0, max(0.0, pd + shift))
    caps = [r.parameter for r in fired if r.action == RuleAction.CAP_AMOUNT and r.parameter is not None]

    model_reasons = score.reasons if score is not None else ()
    declines = [_rule_reason(r, policy) for r in fired if r.action == RuleAction.DECLINE]
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


_RANK = {Outcome.DECLINE: 0, Outcome.REFER: 1, Outcome.APPROVE: 2}
_AMOUNT_STEP = Decimal("100")


def _amount_candidates(app: ApplicationData, limits: Limits) -> list[Decimal]:
    """Lower amounts, nearest first: 95%, 90%, … of the request, down to the product minimum."""
    out: list[Decimal] = []
    for pct in range(95, 0, -5):
        amount = (app.requested_amount * pct / 100 / _AMOUNT_STEP).to_integral_value() * _AMOUNT_STEP
        amount = max(amount, limits.min_amount)
        if amount < app.requested_amount and amount not in out:
            out.append(amount)
        if amount == limits.min_amount:
            break
    return out


def _term_candidates(app: ApplicationData, limits: Limits) -> list[int]:
    """Longer terms, nearest first, in 6-month steps up to the product maximum."""
    terms = list(range(app.term_months + 6, limits.max_term_months + 1, 6))
    if limits.max_term_months > app.term_months and limits.max_term_months not in terms:
        terms.append(limits.max_term_months)
    return terms


#: Rule inputs that a change of amount or term can move. A rule reading none of them fires
#: the same for every candidate, so if it alone holds the outcome no hint can exist.
ACTIONABLE_INPUTS = frozenset({
    "loan.requested_amount", "loan.amount", "loan.term_months", "model.pd",
    "features.loan_to_income", "features.monthly_repayment", "features.disposable_income",
    "features.term_months",
})


def _outcome_is_fixed(result: DecisionResult, outcome: Outcome) -> bool:
    """True when a fired rule that no amount/term change can touch already forces `outcome`
    (or required data or the model is missing): then there is nothing to search."""
    if result.degraded and outcome == Outcome.REFER:
        return True  # missing data or no model: it refers whatever the amount
    action = RuleAction.DECLINE if outcome == Outcome.DECLINE else RuleAction.REFER
    return any(
        r.fired and r.action == action and not (set(r.inputs) & ACTIONABLE_INPUTS)
        for r in result.rule_results
    )


def counterfactual(
    app: ApplicationData,
    *,
    signals: Signals,
    policy: Policy,
    scorer: Scorer,
    as_of: dt.date,
    limits: Limits,
    outcome: Outcome,
    result: DecisionResult | None = None,
) -> dict[str, Any] | None:
    """The smallest change of one actionable input (amount or term) that improves the outcome
    under the same policy and model, or None if no such change exists within the product.

    Candidates are scored in one vectorised call (PD only, no explanations) and resolved through
    the same `resolve` as real decisions, so a hint never promises what the policy would refuse.
    They are resolved smallest relative change first (amount before term on a tie), so the
    first improvement found is the answer and the search usually stops early.
    """
    if result is not None and _outcome_is_fixed(result, outcome):
        return None
    variants: list[tuple[str, Any, ApplicationData]] = [
        ("amount", a, replace(app, requested_amount=a)) for a in _amount_candidates(app, limits)
    ] + [("term_months", t, replace(app, term_months=t)) for t in _term_candidates(app, limits)]
    if not variants:
        return None
    # The variants differ from the application only in amount or term: of its features only the
    # loan features change (modeling.features.LOAN_FEATURES).
    base_vector = result.features if result is not None else build_vector(app, signals, as_of=as_of)
    vectors = [build_loan_variant(base_vector, v, signals, as_of=as_of) for _, _, v in variants]
    pds = scorer.pd_only(vectors)

    def size(item: tuple[int, tuple[str, Any, ApplicationData]]) -> tuple[float, int]:
        _, (name, value, _) = item
        current = app.requested_amount if name == "amount" else app.term_months
        return abs(float(value) - float(current)) / float(current), 0 if name == "amount" else 1

    # A rule that reads no actionable input gives the same result for every candidate: reuse the
    # decision's own result for it and re-evaluate only the rules an amount or term change moves.
    base = result.rule_results if result is not None and result.ruleset_version == policy.version else None
    moving = [i for i, rule in enumerate(policy.rules) if set(rule.reads) & ACTIONABLE_INPUTS]

    for index, (name, value, variant) in sorted(enumerate(variants), key=size):
        pd = pds[index]
        score = ScoreResult(model_name=scorer.model_name, model_version=scorer.model_version,
                            model_hash="", pd=pd, pd_lower=pd, pd_upper=pd, contributions=())
        results: tuple[RuleResult, ...] | None = None
        if base is not None:
            ctx = rule_context(variant, signals, vectors[index], pd)
            merged = list(base)
            for i in moving:
                merged[i] = policy.rules[i].evaluate(ctx)
            results = tuple(merged)
        new = resolve(variant, signals=signals, policy=policy, features=vectors[index], score=score,
                      rule_results=results)
        if _RANK[new.outcome] > _RANK[outcome]:
            current = app.requested_amount if name == "amount" else app.term_months
            # The PD the resubmitted application would show: after the rules' score adjustments.
            assert new.pd is not None
            return {"input": name, "from": str(current), "to": str(value), "outcome": new.outcome.value,
                    "pd": round(new.pd, 6)}
    return None
