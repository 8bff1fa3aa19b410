from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One thing that happened, as it was recorded at the time. Append-only and hash-chained:
    `hash` = SHA-256 over the previous event's hash and this event's canonical content, so any
    later change to any event breaks every hash after it.
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        INTEGRATION = "integration", "Integration client"
        SYSTEM = "system", "System"

    seq = models.BigIntegerField(primary_key=True, help_text="Position in the chain, from 1.")
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=12, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_display = models.CharField(max_length=150, help_text="Copied at the time: names change.")
    event_type = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    correlation_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} {self.subject_type}:{self.subject_id}"


class ChainHead(models.Model):
    """The single row holding the latest hash; locking it serialises appends to the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.last_seq}"
