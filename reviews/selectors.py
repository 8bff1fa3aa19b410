"""Review reads, scoped to what the caller may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from config.errors import NotFound
from reviews.models import ReviewCase


def case_queue(*, user: Any, status: str | None = None, mine: bool = False) -> QuerySet[ReviewCase]:
    if not user.has_perm("reviews.view_queue"):
        return ReviewCase.objects.none()
    qs = ReviewCase.objects.select_related(
        "decision", "decision__product", "decision__application", "assignee"
    ).order_by("due_at", "-priority")
    if status:
        qs = qs.filter(status=status)
    else:
        qs = qs.exclude(status=ReviewCase.Status.DECIDED)
    if mine:
        qs = qs.filter(assignee=user)
    return qs


def case_get(*, user: Any, case_id: int) -> ReviewCase:
    """A case the user may see; "not found" whether it is missing or out of reach."""
    if not user.has_perm("reviews.view_queue"):
        raise NotFound("Case not found.")
    try:
        return ReviewCase.objects.select_related(
            "decision", "decision__product", "decision__application", "assignee"
        ).get(pk=case_id)
    except ReviewCase.DoesNotExist as e:
        raise NotFound("Case not found.") from e
