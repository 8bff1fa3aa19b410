"""Review-case state changes. Each is atomic and writes its audit event."""

from __future__ import annotations

import datetime as dt

from decisioning.models import Decision
from reviews.models import ReviewCase


def case_priority(*, decision: Decision) -> int:
    """Bigger loans first; the queue adds waiting time on top when it sorts."""
    amount = int(decision.application.requested_amount)
    return min(100, amount // 1000)


def case_open(*, decision: Decision, now: dt.datetime) -> ReviewCase:
    """Open the review case of a referred decision.

    Only `decision_create` calls this, inside its transaction; the case is part of that one
    action and is recorded in its `decision.created` audit event, not in an event of its own.
    """
    return ReviewCase.objects.create(
        decision=decision,
        priority=case_priority(decision=decision),
        due_at=now + dt.timedelta(minutes=decision.product.review_sla_minutes),
        created_at=now,
    )
