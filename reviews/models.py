from __future__ import annotations

from django.conf import settings
from django.db import models

from decisioning.models import Decision


class ReviewCase(models.Model):
    """A referred decision waiting for (or given) an underwriter's final verdict.

    `version` increases with every change so two reviewers acting at once cannot both win.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        INFO_REQUESTED = "info_requested", "Information requested"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting second approval"
        DECIDED = "decided", "Decided"

    class FinalOutcome(models.TextChoices):
        APPROVE = "approve", "Approve"
        DECLINE = "decline", "Decline"

    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, related_name="review_case")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    priority = models.PositiveIntegerField(default=0, help_text="Higher is more urgent.")
    due_at = models.DateTimeField(db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    final_outcome = models.CharField(max_length=8, choices=FinalOutcome.choices, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["due_at"]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.status})"
