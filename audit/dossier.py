"""A decision's dossier: everything that explains and proves one decision, as plain data that
the printable page and the PDF both render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit import charts
from audit.models import AuditEvent
from audit.selectors import chain_head, decision_created_event, events_for_decision
from decisioning.models import Decision
from decisioning.selectors import final_outcome
from modeling.features import catalogue_as_rows

APPLICANT_FIELDS = (
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("date_of_birth", "Date of birth"),
    ("postcode", "Postcode"),
    ("uk_resident", "UK resident"),
    ("residential_status", "Residential status"),
    ("months_at_address", "Months at address"),
    ("employment_status", "Employment status"),
    ("months_in_employment", "Months in employment"),
    ("annual_income", "Annual income (£)"),
    ("monthly_expenditure", "Monthly expenditure (£)"),
    ("existing_debt", "Existing debt (£)"),
    ("monthly_debt_payments", "Monthly debt payments (£)"),
    ("dependants", "Dependants"),
    ("bankrupt_or_iva", "Bankruptcy or IVA"),
    ("requested_amount", "Amount requested (£)"),
    ("term_months", "Term (months)"),
    ("purpose", "Purpose"),
)


@dataclass(frozen=True, slots=True)
class Dossier:
    decision: Decision
    final_outcome: str | None
    applicant: list[tuple[str, Any]]
    features: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    rule_results: list[dict[str, Any]]
    contributions: list[tuple[str, float]]
    model_reasons: list[dict[str, Any]]
    cutoffs: tuple[float, float] | None
    review: dict[str, Any] | None
    review_actions: list[dict[str, Any]]
    events: list[AuditEvent]
    proof: AuditEvent | None
    chain_head: tuple[int, str]
    pd_chart: str
    contributions_chart: str


def _cutoffs(decision: Decision) -> tuple[float, float] | None:
    from audit.replay import ReplayUnavailable, policy_at

    try:
        policy = policy_at(product=decision.product, version=decision.ruleset_version)
    except ReplayUnavailable:
        return None
    return policy.cutoffs.approve_max_pd, policy.cutoffs.decline_min_pd


def _review(decision: Decision) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Read through whatever the reviews app has, defensively: it evolves independently."""
    case = getattr(decision, "review_case", None) if hasattr(decision, "review_case") else None
    if case is None:
        return None, []
    names = (
        "status",
        "kind",
        "final_outcome",
        "final_reason_codes",
        "decided_at",
        "decided_by",
        "approved_by",
        "is_override",
        "assignee",
        "created_at",
        "due_at",
    )
    review = {"id": case.pk, **{n: getattr(case, n) for n in names if hasattr(case, n)}}
    actions: list[dict[str, Any]] = []
    related = getattr(case, "actions", None)
    if related is not None:
        for a in related.select_related("actor").order_by("created_at", "pk"):
            actor = getattr(a, "actor", None)
            actions.append(
                {
                    "when": getattr(a, "created_at", None),
                    "kind": getattr(a, "kind", ""),
                    "outcome": getattr(a, "outcome", ""),
                    "reason_codes": getattr(a, "reason_codes", []),
                    "rationale": getattr(a, "rationale", ""),
                    "actor": (actor.get_full_name() or actor.get_username()) if actor else "",
                }
            )
    return review, actions


def dossier_build(*, decision: Decision) -> Dossier:
    app = decision.application
    applicant = [(label, getattr(app, name)) for name, label in APPLICANT_FIELDS]
    values = (decision.features or {}).get("values", {})
    features = [{**row, "value": values.get(row["name"])} for row in catalogue_as_rows()]
    contributions = [
        (str(n), float(c)) for n, c in (decision.explanation or {}).get("contributions", [])
    ]
    cutoffs = _cutoffs(decision)
    review, actions = _review(decision)
    events = list(
        events_for_decision(decision_id=str(decision.pk), case_id=review["id"] if review else None)
    )
    return Dossier(
        decision=decision,
        final_outcome=final_outcome(decision=decision),
        applicant=applicant,
        features=features,
        signals=list(decision.signals or []),
        rule_results=list(decision.rule_results or []),
        contributions=sorted(contributions, key=lambda kv: abs(kv[1]), reverse=True),
        model_reasons=list((decision.explanation or {}).get("model_reasons", [])),
        cutoffs=cutoffs,
        review=review,
        review_actions=actions,
        events=events,
        proof=decision_created_event(decision_id=str(decision.pk)),
        chain_head=chain_head(),
        pd_chart=charts.pd_scale(
            pd=decision.pd,
            lower=decision.pd_lower,
            upper=decision.pd_upper,
            approve_max=cutoffs[0] if cutoffs else None,
            decline_min=cutoffs[1] if cutoffs else None,
        ),
        contributions_chart=charts.contributions(contributions),
    )
