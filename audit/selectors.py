"""Reading and checking the audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from audit.models import AuditEvent, ChainHead
from audit.services import GENESIS_HASH, Actor, event_hash


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def _events(batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        chunk = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


def chain_verify() -> ChainCheck:
    """Recompute every hash from the first event; name the first event that does not match.

    Reads in keyset-paginated batches, so memory stays flat however long the chain is.
    """
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    for event in _events():
        if event.seq != expected_seq:
            return ChainCheck(False, checked, expected_seq, f"event #{expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return ChainCheck(False, checked, event.seq, "prev_hash does not match the previous event")
        recomputed = event_hash(
            prev_hash=prev_hash, seq=event.seq, occurred_at=event.occurred_at,
            actor=Actor(type=event.actor_type, id=event.actor_id, display=event.actor_display),
            event_type=event.event_type, subject_type=event.subject_type, subject_id=event.subject_id,
            payload=event.payload, correlation_id=event.correlation_id,
        )
        if recomputed != event.hash:
            return ChainCheck(False, checked, event.seq, "content does not match its hash")
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = ChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_seq != checked or head.last_hash != prev_hash):
        return ChainCheck(False, checked, checked + 1 if head.last_seq > checked else head.last_seq,
                          "the chain head does not match the last event (events removed?)")
    return ChainCheck(True, checked)
