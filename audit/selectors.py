"""Reading and checking the audit chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Min, QuerySet
from django.utils import timezone

from audit import triggers
from audit.models import AuditEvent, ChainHead, VerificationRun
from audit.services import GENESIS_HASH, hash_of


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The result of recomputing the chain. `first_bad_seq` names the event (its number);
    `first_bad_position` its place in the chain (or the missing place)."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    first_bad_position: int | None = None
    head_position: int = 0
    head_hash: str = GENESIS_HASH
    unsealed: int = 0
    oldest_unsealed_at: dt.datetime | None = None


def _sealed(batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        chunk = list(AuditEvent.objects.filter(position__gt=last).order_by("position")[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].position  # type: ignore[assignment]


def chain_verify() -> ChainCheck:
    """Recompute every sealed event's hash from position 1; name the first one that does not
    match, a missing position, or a head that does not match the last event.

    Reads in keyset-paginated batches, so memory stays flat however long the chain is. Unsealed
    events (written, not yet chained) are counted, not judged: the database already refuses any
    change to them, and the sealer chains them within seconds.
    """
    head = ChainHead.objects.filter(pk=1).first()
    head_position, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    unsealed = AuditEvent.objects.filter(position__isnull=True)
    extra = {
        "head_position": head_position,
        "head_hash": head_hash,
        "unsealed": unsealed.count(),
        "oldest_unsealed_at": unsealed.aggregate(oldest=Min("occurred_at"))["oldest"],
    }

    prev_hash, expected, checked = GENESIS_HASH, 1, 0
    for event in _sealed():
        if event.position != expected:
            return ChainCheck(
                False,
                checked,
                None,
                f"chain position {expected} is missing (events removed?)",
                expected,
                **extra,
            )
        if event.prev_hash != prev_hash:
            return ChainCheck(
                False,
                checked,
                event.seq,
                "prev_hash does not match the previous event",
                event.position,
                **extra,
            )
        if hash_of(event, position=expected, prev_hash=prev_hash) != event.hash:
            return ChainCheck(
                False,
                checked,
                event.seq,
                "content does not match its hash",
                event.position,
                **extra,
            )
        prev_hash, expected, checked = event.hash or "", expected + 1, checked + 1
    if head is not None and (head.last_seq != checked or head.last_hash != prev_hash):
        missing_at = checked + 1 if head.last_seq > checked else head.last_seq
        return ChainCheck(
            False,
            checked,
            None,
            "the chain head does not match the last event (events removed?)",
            missing_at,
            **extra,
        )
    return ChainCheck(True, checked, **extra)


def chain_head() -> tuple[int, str]:
    head = ChainHead.objects.filter(pk=1).first()
    return (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)


def missing_triggers() -> list[str]:
    return triggers.missing(connection)


def verification_latest() -> VerificationRun | None:
    return VerificationRun.objects.select_related("requested_by").first()


def verification_list(*, limit: int = 20) -> QuerySet[VerificationRun]:
    return VerificationRun.objects.select_related("requested_by")[:limit]


def events_for_decision(*, decision_id: str, case_id: int | None = None) -> QuerySet[AuditEvent]:
    """The decision's own events and those of its review case, oldest first."""
    from django.db.models import Q

    q = Q(subject_type="decision", subject_id=str(decision_id))
    if case_id is not None:
        q |= Q(subject_type="review_case", subject_id=str(case_id))
    return AuditEvent.objects.filter(q).order_by("seq")


def decision_created_event(*, decision_id: str) -> AuditEvent | None:
    return (
        AuditEvent.objects.filter(
            subject_type="decision", subject_id=str(decision_id), event_type="decision.created"
        )
        .order_by("seq")
        .first()
    )


def unsealed_age(now: dt.datetime | None = None) -> float | None:
    oldest = AuditEvent.objects.filter(position__isnull=True).aggregate(o=Min("occurred_at"))["o"]
    return None if oldest is None else ((now or timezone.now()) - oldest).total_seconds()


def decision_replays(*, decision: Any, limit: int = 20) -> list[AuditEvent]:
    """The latest recorded replays of a decision (`decision.replayed` events), newest first."""
    return list(
        AuditEvent.objects.filter(
            subject_type="decision", subject_id=str(decision.pk), event_type="decision.replayed"
        ).order_by("-seq")[:limit]
    )


def backlog_alerts() -> list[Any]:
    """Live monitoring alerts on the unsealed backlog (`audit.backlog`), most severe first."""
    from monitoring.checks import AUDIT_UNSEALED_AGE
    from monitoring.models import Alert

    alerts = Alert.objects.filter(metric=AUDIT_UNSEALED_AGE).exclude(status=Alert.Status.RESOLVED)
    return sorted(alerts.select_related("product"), key=lambda a: a.severity != "critical")
