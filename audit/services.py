"""Appending to the audit chain. Called inside the transaction of the change it records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.canonical import canonical_json, jsonable, sha256_hex
from audit.models import AuditEvent, ChainHead
from config.middleware import current_request_id

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


def event_hash(*, prev_hash: str, seq: int, occurred_at: dt.datetime, actor: Actor, event_type: str,
               subject_type: str, subject_id: str, payload: Any, correlation_id: str) -> str:
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


def audit_record(
    *,
    actor: Actor,
    event_type: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the caller's transaction so the event and
    the change it records commit (or roll back) together.

    The chain head row is locked for the rest of the transaction; callers write their audit event
    last so the lock is held for as short a time as possible.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside transaction.atomic()")
    occurred_at = occurred_at or timezone.now()
    correlation_id = correlation_id if correlation_id is not None else current_request_id()
    payload = jsonable(payload)
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = ChainHead.objects.create(pk=1, last_seq=0, last_hash=GENESIS_HASH)
        head = ChainHead.objects.select_for_update().get(pk=1)
    seq = head.last_seq + 1
    digest = event_hash(
        prev_hash=head.last_hash, seq=seq, occurred_at=occurred_at, actor=actor,
        event_type=event_type, subject_type=subject_type, subject_id=subject_id,
        payload=payload, correlation_id=correlation_id,
    )
    event = AuditEvent.objects.create(
        seq=seq, occurred_at=occurred_at, actor_type=actor.type, actor_id=actor.id,
        actor_display=actor.display[:150], event_type=event_type, subject_type=subject_type,
        subject_id=subject_id, payload=payload, correlation_id=correlation_id,
        prev_hash=head.last_hash, hash=digest,
    )
    ChainHead.objects.filter(pk=1).update(last_seq=seq, last_hash=digest)
    return event
