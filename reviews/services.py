"""Review-case state changes.

Every function here is keyword-only, atomic, takes the acting user, checks the permission, and
writes exactly one audit event in the same transaction as the change. A change applies only if the
case is still at the `expected_version` the reviewer saw (`UPDATE … WHERE id = … AND version = …`);
otherwise `Conflict` says what changed in between, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from config.errors import ApplicationError, Conflict, NotFound
from decisioning.models import Decision
from reviews.models import WAITING_MINUTES_PER_POINT, ReviewAction, ReviewCase, WebhookDelivery
from reviews.selectors import reason_catalogue

Status = ReviewCase.Status
Outcome = ReviewCase.FinalOutcome

MIN_RATIONALE = 20
SANCTIONS_RULE = "sanctions_hit"
SANCTIONS_CODE = "SANCTIONS_HIT"

EVENT_LABELS = {
    "review_case.claimed": "claimed it",
    "review_case.released": "released it",
    "review_case.assigned": "assigned it",
    "review_case.decided": "decided it",
    "review_case.override_proposed": "proposed an override",
    "review_case.info_requested": "requested information",
    "review_case.override_approved": "approved the override",
    "review_case.override_rejected": "rejected the override",
    "review_case.appeal_opened": "opened it",
}


class PermissionDenied(ApplicationError):
    status_code = 403

    def __init__(self, message: str = "You do not have permission to do this.") -> None:
        super().__init__(message, code="permission_denied")


# ---- rules of the road -------------------------------------------------------------------------


def case_priority(*, decision: Decision) -> int:
    """Amount points: one per £1,000 (capped at 100); the queue adds time waiting on top."""
    amount = int(decision.application.requested_amount)
    return min(100, amount // 1000)


def _rank_at(*, created_at: dt.datetime, priority: int) -> dt.datetime:
    return created_at - dt.timedelta(minutes=priority * WAITING_MINUTES_PER_POINT)


def _codes_field(decision: Decision) -> str:
    codes = [r.get("code", "") for r in decision.reasons or [] if r.get("code")]
    return (" " + " ".join(dict.fromkeys(codes)) + " ")[:400] if codes else ""


def has_sanctions_hit(decision: Decision) -> bool:
    """A sanctions match can never be overridden, whatever rule set produced it."""
    return any(
        r.get("fired")
        and (r.get("rule_id") == SANCTIONS_RULE or r.get("reason_code") == SANCTIONS_CODE)
        for r in decision.rule_results or []
    )


def needs_second_approval(*, case: ReviewCase, outcome: str) -> list[str]:
    """Why approving this case would be an override needing a senior's second approval ([] if not)."""
    if outcome != Outcome.APPROVE:
        return []
    decision = case.decision
    why = []
    if decision.outcome == Decision.OutcomeChoice.DECLINE:
        fired = [
            r
            for r in decision.rule_results or []
            if r.get("fired") and r.get("action") == "decline"
        ]
        why.append("the engine declined it on a hard gate" if fired else "the engine declined it")
    limit = decision.product.four_eyes_amount
    if decision.application.requested_amount > limit:
        why.append(f"the amount is above the four-eyes limit of £{limit:,.0f}")
    return why


def _require(user: Any, perm: str, what: str) -> None:
    if not (user and user.is_authenticated and user.is_active and user.has_perm(perm)):
        raise PermissionDenied(f"You do not have permission to {what}.")


def _rationale(text: str) -> str:
    text = (text or "").strip()
    if len(text) < MIN_RATIONALE:
        raise ApplicationError(
            "A rationale is required.",
            code="rationale_required",
            errors={
                "rationale": [f"Explain your reasoning in at least {MIN_RATIONALE} characters."]
            },
        )
    return text


def _reason_codes(codes: Iterable[str], *, required: bool) -> list[str]:
    codes = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    catalogue = reason_catalogue()
    unknown = [c for c in codes if c not in catalogue]
    if unknown:
        raise ApplicationError(
            "Unknown reason code.",
            code="invalid",
            errors={"reason_codes": [f"Unknown: {', '.join(unknown)}."]},
        )
    if required and not codes:
        raise ApplicationError(
            "A decline needs at least one reason code.",
            code="reason_codes_required",
            errors={"reason_codes": ["Choose at least one reason code for a decline."]},
        )
    return codes


def _conflict(*, case_id: int, expected_version: int) -> Conflict:
    """Say what happened since the reviewer loaded the page: who did what, and the state now."""
    current = ReviewCase.objects.select_related("assignee").filter(pk=case_id).first()
    if current is None:
        return Conflict("This case no longer exists.", code="conflict")
    last = (
        AuditEvent.objects.filter(subject_type="review_case", subject_id=str(case_id))
        .order_by("-seq")
        .first()
    )
    state = current.get_status_display().lower()
    if current.assignee_id:
        state += f", assigned to {_display(current.assignee)}"
    if current.final_outcome:
        state += f", final outcome {current.final_outcome}"
    if current.version != expected_version and last is not None:
        when = timezone.localtime(last.occurred_at).strftime("%H:%M:%S")
        what = EVENT_LABELS.get(last.event_type, last.event_type)
        message = (
            f"Case #{case_id} changed while you were looking at it: {last.actor_display} {what} "
            f"at {when}. It is now {state}. Your action was not saved."
        )
    else:
        message = f"Case #{case_id} is {state}; that action is not possible now. Nothing was saved."
    return Conflict(message, code="conflict")


def _display(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def _apply(
    *,
    case: ReviewCase,
    expected_version: int,
    allowed: Iterable[str],
    changes: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> ReviewCase:
    """The optimistic version check: one conditional UPDATE; 0 rows means someone else got there."""
    filters: dict[str, Any] = {
        "pk": case.pk,
        "version": expected_version,
        "status__in": list(allowed),
    }
    filters.update(extra or {})
    updated = ReviewCase.objects.filter(**filters).update(**changes, version=F("version") + 1)
    if updated != 1:
        raise _conflict(case_id=case.pk, expected_version=expected_version)
    return ReviewCase.objects.select_related(
        "decision", "decision__product", "decision__application", "decision__client", "assignee"
    ).get(pk=case.pk)


def _audit(
    *, actor: Any, case: ReviewCase, event: str, before: dict[str, Any], **payload: Any
) -> None:
    audit_record(
        actor=Actor.for_user(actor),
        event_type=f"review_case.{event}",
        subject_type="review_case",
        subject_id=str(case.pk),
        payload={
            "decision_id": str(case.decision_id),
            "before": before,
            "after": _snapshot(case),
            **payload,
        },
    )


def _act(
    *,
    actor: Any,
    case: ReviewCase,
    kind: str,
    event: str,
    before: dict[str, Any],
    now: dt.datetime,
    rationale: str,
    action_outcome: str = "",
    action_codes: Iterable[str] = (),
    **payload: Any,
) -> None:
    """A reviewer's act: its ReviewAction row and its one audit event, in the caller's transaction."""
    ReviewAction.objects.create(
        case=case,
        kind=kind,
        outcome=action_outcome,
        reason_codes=list(action_codes),
        rationale=rationale,
        actor=actor,
        created_at=now,
    )
    _audit(actor=actor, case=case, event=event, before=before, rationale=rationale, **payload)


def _snapshot(case: ReviewCase) -> dict[str, Any]:
    return {"status": case.status, "assignee": case.assignee_id, "version": case.version}


def _get(case_id: int) -> ReviewCase:
    try:
        return ReviewCase.objects.select_related(
            "decision", "decision__product", "decision__application", "decision__client"
        ).get(pk=case_id)
    except ReviewCase.DoesNotExist as e:
        raise NotFound("Case not found.") from e


# ---- opening -----------------------------------------------------------------------------------


def case_build(*, decision: Decision, now: dt.datetime) -> ReviewCase:
    """The review case of a referred decision, in memory and unsaved: `decision_create` writes it
    in the same statement as the decision's application and decision rows (`config.db.insert_new`).
    The case is part of that one action and is recorded in its `decision.created` audit event,
    not in an event of its own."""
    priority = case_priority(decision=decision)
    return ReviewCase(
        decision=decision,
        priority=priority,
        rank_at=_rank_at(created_at=now, priority=priority),
        refer_codes=_codes_field(decision),
        due_at=now + dt.timedelta(minutes=decision.product.review_sla_minutes),
        created_at=now,
    )


def case_open_appeal(
    *, actor: Any, decision: Decision, rationale: str, now: dt.datetime | None = None
) -> ReviewCase:
    """Open a case on a declined decision (an applicant's appeal, a complaint) and claim it.

    Approving such a case is always an override: it needs a senior's second approval, and a
    sanctions match can never be approved at all.
    """
    _require(actor, "reviews.work_cases", "open appeal cases")
    text = _rationale(rationale)
    if decision.outcome != Decision.OutcomeChoice.DECLINE:
        raise ApplicationError("Only a declined application can be appealed.", code="not_declined")
    now = now or timezone.now()
    priority = case_priority(decision=decision)
    try:
        with transaction.atomic():
            case = ReviewCase.objects.create(
                decision=decision,
                kind=ReviewCase.Kind.APPEAL,
                status=Status.CLAIMED,
                assignee=actor,
                opened_by=actor,
                priority=priority,
                rank_at=_rank_at(created_at=now, priority=priority),
                refer_codes=_codes_field(decision),
                due_at=now + dt.timedelta(minutes=decision.product.review_sla_minutes),
                created_at=now,
            )
            _act(actor=actor, case=case, kind=ReviewAction.Kind.APPEAL_OPENED,
                 event="appeal_opened", before={}, now=now, rationale=text)
    except IntegrityError as e:
        raise Conflict(
            "This application already has a review case; open that one instead.", code="conflict"
        ) from e
    return case


# ---- assignment --------------------------------------------------------------------------------

WORKABLE = (Status.OPEN, Status.CLAIMED, Status.INFO_REQUESTED)


def case_claim(*, actor: Any, case_id: int, expected_version: int) -> ReviewCase:
    """Take an unassigned case (open, or waiting for information) into your own work."""
    _require(actor, "reviews.work_cases", "claim cases")
    case = _get(case_id)
    before = _snapshot(case)
    with transaction.atomic():
        new_status = (
            Status.INFO_REQUESTED if case.status == Status.INFO_REQUESTED else Status.CLAIMED
        )
        case = _apply(
            case=case,
            expected_version=expected_version,
            allowed=(Status.OPEN, Status.INFO_REQUESTED),
            changes={"assignee": actor, "status": new_status},
            extra={"assignee__isnull": True},
        )
        _audit(actor=actor, case=case, event="claimed", before=before)
    return case


def case_release(*, actor: Any, case_id: int, expected_version: int) -> ReviewCase:
    """Give a case back to the queue (its assignee, or a senior who assigns work)."""
    _require(actor, "reviews.work_cases", "release cases")
    case = _get(case_id)
    if case.assignee_id != actor.pk and not actor.has_perm("reviews.assign_cases"):
        raise PermissionDenied("Only the assignee or a senior underwriter can release this case.")
    before = _snapshot(case)
    with transaction.atomic():
        new_status = Status.INFO_REQUESTED if case.status == Status.INFO_REQUESTED else Status.OPEN
        case = _apply(
            case=case,
            expected_version=expected_version,
            allowed=(Status.CLAIMED, Status.INFO_REQUESTED),
            changes={"assignee": None, "status": new_status},
            extra={"assignee__isnull": False},
        )
        _audit(actor=actor, case=case, event="released", before=before)
    return case


def case_assign(*, actor: Any, case_id: int, expected_version: int, assignee_id: int) -> ReviewCase:
    """A senior underwriter gives a case to a named underwriter."""
    _require(actor, "reviews.assign_cases", "assign cases")
    assignee = get_user_model().objects.filter(pk=assignee_id, is_active=True).first()
    if assignee is None or not assignee.has_perm("reviews.work_cases"):
        raise ApplicationError(
            "Choose an underwriter.",
            code="invalid",
            errors={"assignee": ["Not an active underwriter."]},
        )
    case = _get(case_id)
    before = _snapshot(case)
    with transaction.atomic():
        new_status = (
            Status.INFO_REQUESTED if case.status == Status.INFO_REQUESTED else Status.CLAIMED
        )
        case = _apply(
            case=case,
            expected_version=expected_version,
            allowed=WORKABLE,
            changes={"assignee": assignee, "status": new_status},
        )
        _audit(
            actor=actor,
            case=case,
            event="assigned",
            before=before,
            assignee_name=_display(assignee),
        )
    return case


# ---- deciding ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecideResult:
    case: ReviewCase
    needs_approval: bool


def case_decide(
    *,
    actor: Any,
    case_id: int,
    expected_version: int,
    outcome: str,
    rationale: str,
    reason_codes: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> DecideResult:
    """The assignee approves or declines. An override (approving an engine decline, or above the
    product's four-eyes amount) waits for a senior's second approval instead of standing."""
    _require(actor, "reviews.work_cases", "decide cases")
    if outcome not in Outcome.values:
        raise ApplicationError(
            "Choose approve or decline.", errors={"outcome": ["Choose approve or decline."]}
        )
    text = _rationale(rationale)
    codes = _reason_codes(reason_codes, required=outcome == Outcome.DECLINE)
    case = _get(case_id)
    if outcome == Outcome.APPROVE and has_sanctions_hit(case.decision):
        raise ApplicationError(
            "A sanctions match can never be approved.",
            code="sanctions_hit",
            errors={
                "outcome": ["This applicant matched a sanctions list: only a decline is possible."]
            },
        )
    if case.assignee_id != actor.pk:
        if case.assignee_id is None or case.version != expected_version:
            raise _conflict(case_id=case.pk, expected_version=expected_version)
        raise PermissionDenied(
            "Only the underwriter the case is assigned to can decide it; claim it first."
        )
    why = needs_second_approval(case=case, outcome=outcome)
    now = now or timezone.now()
    before = _snapshot(case)
    with transaction.atomic():
        if why:
            case = _apply(
                case=case,
                expected_version=expected_version,
                allowed=(Status.CLAIMED, Status.INFO_REQUESTED),
                changes={
                    "status": Status.AWAITING_APPROVAL,
                    "proposed_outcome": outcome,
                    "proposed_by": actor,
                    "proposed_at": now,
                    "final_reason_codes": codes,
                },
                extra={"assignee": actor},
            )
            _act(actor=actor, case=case, kind=ReviewAction.Kind.PROPOSED,
                 event="override_proposed", before=before, now=now, rationale=text,
                 action_outcome=outcome, action_codes=codes,
                 outcome=outcome, reason_codes=codes, why=why)
        else:
            case = _apply(
                case=case,
                expected_version=expected_version,
                allowed=(Status.CLAIMED, Status.INFO_REQUESTED),
                changes={
                    "status": Status.DECIDED,
                    "final_outcome": outcome,
                    "final_reason_codes": codes,
                    "decided_at": now,
                    "decided_by": actor,
                },
                extra={"assignee": actor},
            )
            _act(actor=actor, case=case, kind=ReviewAction.Kind.DECIDED,
                 event="decided", before=before, now=now, rationale=text,
                 action_outcome=outcome, action_codes=codes,
                 outcome=outcome, reason_codes=codes)
            _notify_final_outcome(case=case, now=now)
    return DecideResult(case=case, needs_approval=bool(why))


def case_request_info(
    *,
    actor: Any,
    case_id: int,
    expected_version: int,
    rationale: str,
    now: dt.datetime | None = None,
) -> ReviewCase:
    """The assignee asks for more information; the case keeps its assignee and its SLA clock."""
    _require(actor, "reviews.work_cases", "request information")
    text = _rationale(rationale)
    case = _get(case_id)
    if (
        case.assignee_id is not None
        and case.assignee_id != actor.pk
        and case.version == expected_version
    ):
        raise PermissionDenied(
            "Only the underwriter the case is assigned to can request information."
        )
    now = now or timezone.now()
    before = _snapshot(case)
    with transaction.atomic():
        case = _apply(
            case=case,
            expected_version=expected_version,
            allowed=(Status.CLAIMED,),
            changes={"status": Status.INFO_REQUESTED},
            extra={"assignee": actor},
        )
        _act(actor=actor, case=case, kind=ReviewAction.Kind.INFO_REQUESTED,
             event="info_requested", before=before, now=now, rationale=text)
    return case


def case_approve_override(
    *,
    actor: Any,
    case_id: int,
    expected_version: int,
    rationale: str,
    now: dt.datetime | None = None,
) -> ReviewCase:
    """A senior underwriter's second approval (four-eyes): the proposal becomes the final outcome."""
    _require(actor, "reviews.approve_overrides", "approve overrides")
    text = _rationale(rationale)
    case = _get(case_id)
    if case.proposed_by_id == actor.pk:
        raise PermissionDenied("Nobody can give the second approval of their own override.")
    if case.proposed_outcome == Outcome.APPROVE and has_sanctions_hit(case.decision):
        raise ApplicationError("A sanctions match can never be approved.", code="sanctions_hit")
    now = now or timezone.now()
    before = _snapshot(case)
    with transaction.atomic():
        case = _apply(
            case=case,
            expected_version=expected_version,
            allowed=(Status.AWAITING_APPROVAL,),
            changes={
                "status": Status.DECIDED,
                "final_outcome": F("proposed_outcome"),
                "decided_at": now,
                "decided_by": F("proposed_by"),
                "approved_by": actor,
                "is_override": True,
            },
            extra={"proposed_by__isnull": False},
        )
        if case.proposed_by_id == actor.pk:  # the proposal changed under us to one of our own
            raise PermissionDenied("Nobody can give the second approval of their own override.")
        _act(actor=actor, case=case, kind=ReviewAction.Kind.OVERRIDE_APPROVED,
             event="override_approved", before=before, now=now, rationale=text,
             action_outcome=case.final_outcome, action_codes=case.final_reason_codes,
             outcome=case.final_outcome, proposed_by=case.proposed_by_id)
        _notify_final_outcome(case=case, now=now)
    return case


def case_reject_override(
    *,
    actor: Any,
    case_id: int,
    expected_version: int,
    rationale: str,
    now: dt.datetime | None = None,
) -> ReviewCase:
    """A senior refuses the override: the case goes back to the proposer to decide again."""
    _require(actor, "reviews.approve_overrides", "reject overrides")
    text = _rationale(rationale)
    case = _get(case_id)
    if case.proposed_by_id == actor.pk:
        raise PermissionDenied("Nobody can review their own override.")
    now = now or timezone.now()
    before = _snapshot(case)
    proposed = case.proposed_outcome
    with transaction.atomic():
        case = _apply(
            case=case,
            expected_version=expected_version,
            allowed=(Status.AWAITING_APPROVAL,),
            changes={
                "status": Status.CLAIMED,
                "assignee": F("proposed_by"),
                "proposed_outcome": "",
                "proposed_by": None,
                "proposed_at": None,
                "final_reason_codes": [],
            },
            extra={"proposed_by__isnull": False},
        )
        _act(actor=actor, case=case, kind=ReviewAction.Kind.OVERRIDE_REJECTED,
             event="override_rejected", before=before, now=now, rationale=text,
             action_outcome=proposed, proposed_outcome=proposed)
    return case


# ---- telling the integration -------------------------------------------------------------------


def webhook_payload(*, case: ReviewCase) -> dict[str, Any]:
    decision = case.decision
    return {
        "event": "decision.final_outcome",
        "decision_id": str(decision.pk),
        "reference": decision.application.reference,
        "product": decision.product.code,
        "engine_outcome": decision.outcome,
        "final_outcome": case.final_outcome,
        "reason_codes": list(case.final_reason_codes or []),
        "review": {
            "case_id": case.pk,
            "kind": case.kind,
            "status": case.status,
            "decided_at": case.decided_at.isoformat() if case.decided_at else None,
            "second_approval": case.approved_by_id is not None,
        },
    }


def _notify_final_outcome(*, case: ReviewCase, now: dt.datetime) -> None:
    """Queue the signed webhook: an outbox row now, the Celery task only once this commits."""
    client = case.decision.client
    if not client.webhook_url:
        return
    delivery = WebhookDelivery.objects.create(
        case=case, url=client.webhook_url, payload=webhook_payload(case=case), created_at=now
    )
    from reviews.tasks import deliver_webhook

    delivery_id = str(delivery.pk)
    # robust: a broker hiccup after commit is logged, never turned into an error page for a
    # decision that has been saved; the pending row shows it was not sent.
    transaction.on_commit(lambda: deliver_webhook.delay(delivery_id), robust=True)
