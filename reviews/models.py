from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models

from decisioning.models import Decision

#: One point of priority per this many minutes a case waits (amount gives one point per £1,000).
WAITING_MINUTES_PER_POINT = 5


class ReviewCase(models.Model):
    """A decision an underwriter must look at — a referral, or an appeal against a decline — and,
    once given, the final verdict that stands in place of the engine's.

    The `Decision` row is immutable; everything a reviewer decides lives here and in
    `ReviewAction`. `version` increases with every change so two reviewers acting at once cannot
    both win (services update `WHERE version = <the version the reviewer saw>`).
    """

    class Kind(models.TextChoices):
        REFERRAL = "referral", "Referral"
        APPEAL = "appeal", "Appeal against a decline"

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
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REFERRAL)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    priority = models.PositiveIntegerField(
        default=0, help_text="Amount points; higher is more urgent."
    )
    rank_at = models.DateTimeField(
        db_index=True,
        help_text="created_at moved earlier by the amount points: sorting by it ascending sorts by "
        "amount + time waiting, whatever the current time.",
    )
    refer_codes = models.CharField(
        max_length=400,
        blank=True,
        help_text="' CODE1 CODE2 ' — the decision's reasons, for filtering.",
    )
    due_at = models.DateTimeField(db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who opened an appeal; empty for referrals (opened by the engine).",
    )
    # A proposal waiting for a senior's second approval (four-eyes).
    proposed_outcome = models.CharField(max_length=8, choices=FinalOutcome.choices, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    # The verdict that stands.
    final_outcome = models.CharField(max_length=8, choices=FinalOutcome.choices, blank=True)
    final_reason_codes = models.JSONField(default=list, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The senior who gave the second approval of an override.",
    )
    is_override = models.BooleanField(
        default=False, help_text="The final outcome needed a second approval (against policy)."
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["status", "rank_at"]),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.status})"

    def effective_priority(self, now: dt.datetime) -> int:
        waited = max(0.0, (now - self.created_at).total_seconds() / 60)
        return self.priority + int(waited // WAITING_MINUTES_PER_POINT)

    @property
    def codes(self) -> list[str]:
        return self.refer_codes.split()

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.DECIDED


class ReviewAction(models.Model):
    """One reviewer's act on a case, with the rationale they gave, exactly as taken. Append-only:
    a later act supersedes an earlier one, it never edits it."""

    class Kind(models.TextChoices):
        APPEAL_OPENED = "appeal_opened", "Opened an appeal"
        DECIDED = "decided", "Decided"
        PROPOSED = "proposed", "Proposed an override"
        INFO_REQUESTED = "info_requested", "Requested information"
        OVERRIDE_APPROVED = "override_approved", "Approved the override"
        OVERRIDE_REJECTED = "override_rejected", "Rejected the override"

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    outcome = models.CharField(max_length=8, choices=ReviewCase.FinalOutcome.choices, blank=True)
    reason_codes = models.JSONField(default=list, blank=True)
    rationale = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on case {self.case_id}"


class WebhookDelivery(models.Model):
    """One notification of a final outcome to an integration client's webhook (an outbox row).

    Written in the transaction that decides the case, so a rolled-back decision leaves no row and
    no task; the Celery task claims it, POSTs it, and records how each attempt went.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="deliveries")
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"webhook {self.id} ({self.status})"
