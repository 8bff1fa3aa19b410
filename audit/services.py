"""Appending to the audit chain. Called inside the transaction of the change it records."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from audit.canonical import canonical_json, jsonable, sha256_hex
from audit.models import AuditEvent, ChainHead
from config.db import insert_new, one_statement
from config.middleware import current_request_id

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a user, an integration client or the system itself."""

    type: str
    id: str
    display: str

    @classmethod
    def system(cls, name: str = "verdict") -> Actor:
        return cls(type=AuditEvent.ActorType.SYSTEM, id="", display=name)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(
            type=AuditEvent.ActorType.USER,
            id=str(user.pk),
            display=user.get_full_name() or user.get_username(),
        )

    @classmethod
    def for_client(cls, client: Any) -> Actor:
        return cls(type=AuditEvent.ActorType.INTEGRATION, id=str(client.pk), display=client.name)


def event_hash(
    *,
    prev_hash: str,
    seq: int,
    occurred_at: dt.datetime,
    actor: Actor,
    event_type: str,
    subject_type: str,
    subject_id: str,
    payload: Any,
    correlation_id: str,
) -> str:
    """The hash of the event at chain position `seq` (the key is "seq" for the events chained
    before sealing existed, whose position equals their number)."""
    content = {
        "seq": seq,
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(),
        "actor": [actor.type, actor.id, actor.display],
        "event_type": event_type,
        "subject": [subject_type, subject_id],
        "payload": payload,
        "correlation_id": correlation_id,
    }
    return sha256_hex(prev_hash + "\n" + canonical_json(content))


def hash_of(event: AuditEvent, *, position: int, prev_hash: str) -> str:
    return event_hash(
        prev_hash=prev_hash,
        seq=position,
        occurred_at=event.occurred_at,
        actor=Actor(type=event.actor_type, id=event.actor_id, display=event.actor_display),
        event_type=event.event_type,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        payload=event.payload,
        correlation_id=event.correlation_id,
    )


def _seal_mode() -> str:
    """`on_commit`: seal right after the writer's commit (development, eager Celery);
    `scheduled`: the periodic task seals (production, a Celery beat every second)."""
    default = "on_commit" if settings.CELERY_TASK_ALWAYS_EAGER else "scheduled"
    return str(getattr(settings, "AUDIT_SEAL_MODE", default))


def audit_record(
    *,
    actor: Actor,
    event_type: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
    occurred_at: dt.datetime | None = None,
    with_rows: Sequence[models.Model] = (),
) -> AuditEvent:
    """Write one event. Must run inside the caller's transaction so the event and the change it
    records commit (or roll back) together. `with_rows`: new, unsaved rows of that change, written
    before the event in the same round trip (`config.db.insert_new`; the decision hot path).

    Outside a transaction only when `with_rows` are the whole change and `config.db.one_statement()`:
    the rows and the event are then one autocommitted statement, written together or not at all.

    Takes no lock: the event is written with its content final and is chained (sealed) after
    commit by `chain_seal`, so concurrent writers never queue behind one another.
    """
    if not transaction.get_connection().in_atomic_block and not (with_rows and one_statement()):
        raise RuntimeError("audit_record must be called inside transaction.atomic()")
    occurred_at = occurred_at or timezone.now()
    correlation_id = correlation_id if correlation_id is not None else current_request_id()
    event = AuditEvent(
        occurred_at=occurred_at,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_display=actor.display[:150],
        event_type=event_type,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=jsonable(payload),
        correlation_id=correlation_id,
    )
    insert_new(*with_rows, event)  # prebuilt INSERTs, one round trip: this runs for every decision
    if _seal_mode() == "on_commit":
        transaction.on_commit(_seal_quietly)
    return event


def _seal_quietly() -> None:
    try:
        chain_seal(wait=False)
    except DatabaseError:  # the scheduled sealer or the next commit will seal it
        logger.warning("audit sealing after commit failed; will retry", exc_info=True)


_SEAL_SQL = (
    "UPDATE audit_auditevent SET position = %s, prev_hash = %s, hash = %s, sealed_at = %s "
    "WHERE seq = %s AND position IS NULL"
)


def chain_seal(*, batch: int = 5000, wait: bool = True, max_batches: int | None = None) -> int:
    """Chain every committed, unsealed event, oldest first; return how many were sealed.

    The sealers serialise on the chain head row (with `wait=False` a busy sealer is left to do
    the work). Events are taken in `seq` order among those committed when the batch is read; an
    event whose transaction commits later is sealed by a later batch, at a later position —
    positions follow commit order, never skip an event and never fork.
    """
    sealed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        n = _seal_batch(batch=batch, wait=wait)
        sealed += n
        batches += 1
        if n < batch:
            break
    return sealed


def _seal_batch(*, batch: int, wait: bool) -> int:
    with transaction.atomic():
        head = ChainHead.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()
        if head is None:
            if ChainHead.objects.filter(pk=1).exists():
                return 0  # another sealer holds the head
            ChainHead.objects.get_or_create(
                pk=1, defaults={"last_seq": 0, "last_hash": GENESIS_HASH}
            )
            head = ChainHead.objects.select_for_update().get(pk=1)
        pending = list(AuditEvent.objects.filter(position__isnull=True).order_by("seq")[:batch])
        if not pending:
            return 0
        now = timezone.now()
        position, prev = head.last_seq, head.last_hash
        rows = []
        for event in pending:
            position += 1
            digest = hash_of(event, position=position, prev_hash=prev)
            rows.append((position, prev, digest, now, event.seq))
            prev = digest
        with connection.cursor() as cursor:
            cursor.executemany(_SEAL_SQL, rows)
        ChainHead.objects.filter(pk=1).update(last_seq=position, last_hash=prev)
        return len(rows)
