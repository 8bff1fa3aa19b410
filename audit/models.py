from __future__ import annotations

import simple_history
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import models

from audit.immutable import ImmutableManager


class AuditEvent(models.Model):
    """One thing that happened, as it was recorded at the time. Append-only and hash-chained.

    Written inside the transaction of the change it records, with its content final but not yet
    sealed; the sealer (`audit.services.chain_seal`, run after commit or every second) then gives
    it the next `position` in the chain, `prev_hash` and `hash` = SHA-256 over the previous
    event's hash and this event's canonical content. Any later change to a sealed event breaks
    every hash after it; the database refuses every change except that one-time sealing.
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        INTEGRATION = "integration", "Integration client"
        SYSTEM = "system", "System"

    seq = models.BigAutoField(
        primary_key=True,
        help_text="The event's number, in the order events were written (gaps where a transaction rolled back).",
    )
    position = models.BigIntegerField(
        null=True,
        blank=True,
        unique=True,
        help_text="Place in the hash chain, from 1; empty until sealed.",
    )
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=12, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_display = models.CharField(max_length=150, help_text="Copied at the time: names change.")
    event_type = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    correlation_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)

    objects = ImmutableManager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(
                fields=["subject_type", "subject_id"], name="audit_audit_subject_b49148_idx"
            ),
            models.Index(
                fields=["seq"],
                condition=models.Q(position__isnull=True),
                name="audit_event_unsealed",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} {self.subject_type}:{self.subject_id}"

    @property
    def is_sealed(self) -> bool:
        return self.position is not None


class ChainHead(models.Model):
    """The single row holding the last sealed position and hash. Only the sealer locks it, so
    writers of events never wait for one another."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.last_seq}"


class VerificationRun(models.Model):
    """One recomputation of the whole chain: who asked, when, and what it found.

    A run is written when it starts (status `running`) and completed once; it is evidence that
    the chain was checked, so it is never edited afterwards.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Intact"
        FAILED = "failed", "Broken"
        ERROR = "error", "Could not run"

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_display = models.CharField(max_length=150, help_text="Copied at the time.")
    source = models.CharField(max_length=16, help_text="web, cli or schedule.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.BigIntegerField(
        default=0, help_text="Events verified before the first bad one."
    )
    first_bad_seq = models.BigIntegerField(
        null=True, blank=True, help_text="Number of the first bad event."
    )
    first_bad_position = models.BigIntegerField(
        null=True, blank=True, help_text="Chain position of the first problem."
    )
    problem = models.TextField(blank=True)
    head_seq = models.BigIntegerField(null=True, blank=True)
    head_hash = models.CharField(max_length=64, blank=True)
    triggers_ok = models.BooleanField(
        null=True, help_text="Every immutability trigger is installed."
    )
    missing_triggers = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"verification {self.pk} {self.status}"

    @property
    def ok(self) -> bool:
        return self.status == self.Status.PASSED


# ---- history of who may do what (audit/access.py) -------------------------------------------------
# Users and groups are Django's; their history lives here. The password hash never enters it, and
# sign-ins (last_login) do not make history rows.
simple_history.register(
    User,
    app="audit",
    excluded_fields=["password", "last_login"],
    m2m_fields=["groups", "user_permissions"],
)
simple_history.register(Group, app="audit", m2m_fields=["permissions"])
