from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from decisioning.models import Product


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Baseline(models.Model):
    """The training profile of one registered model version: the frozen bins live traffic is
    compared with. Copied from the registry (`profile.json`) the first time a job needs it, so
    monitoring never depends on MLflow being up after that, and the baseline cannot move."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    model_version = models.CharField(max_length=32)
    profile = models.JSONField()
    source = models.CharField(max_length=200, help_text="Where the profile came from (registry run, test).")
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["product", "-fetched_at"]
        constraints = [
            models.UniqueConstraint(fields=["product", "model_version"], name="monitoring_baseline_unique")
        ]

    def __str__(self) -> str:
        return f"{self.product.code} v{self.model_version} baseline"


class MonitoringRun(models.Model):
    """One execution of the monitoring job for one product and window (what ran, how it went)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    window = models.CharField(max_length=16)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    decisions = models.PositiveIntegerField(default=0)
    points = models.PositiveIntegerField(default=0)
    alerts_opened = models.PositiveIntegerField(default=0)
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.product.code} {self.window} {self.window_start:%Y-%m-%d %H:%M} ({self.status})"


class MetricPoint(models.Model):
    """One value of one monitoring metric for one product (and model version, and feature) over
    one window: a point of a time series. Re-running a window replaces its points.

    `model_version` is empty for product-level metrics (volume, latency, overrides); `feature` is
    empty for metrics that are not per feature.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    model_version = models.CharField(max_length=32, blank=True)
    metric = models.CharField(max_length=40)
    feature = models.CharField(max_length=64, blank=True)
    window = models.CharField(max_length=16, help_text="Window length label, e.g. 1h, 24h.")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    value = models.FloatField(null=True)
    details = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["product", "metric", "feature", "window_end"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "model_version", "metric", "feature", "window", "window_end"],
                name="monitoring_point_unique",
            )
        ]
        indexes = [models.Index(fields=["product", "window", "metric", "window_end"])]

    def __str__(self) -> str:
        return f"{self.metric}{'/' + self.feature if self.feature else ''} = {self.value}"


class AlertRule(models.Model):
    """When a metric's value calls for attention: `value <operator> threshold` over a window with
    at least `min_count` rows. Edited by risk managers in the admin (history kept)."""

    class Operator(models.TextChoices):
        GTE = "gte", "≥ threshold"
        LTE = "lte", "≤ threshold"
        ABS_GTE = "abs_gte", "|value| ≥ threshold"

    name = models.CharField(max_length=120)
    metric = models.CharField(max_length=40, help_text="A metric name, see docs/monitoring.md.")
    feature = models.CharField(max_length=64, blank=True, help_text="Empty: every feature.")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty: every product.",
    )
    operator = models.CharField(max_length=8, choices=Operator.choices)
    threshold = models.FloatField()
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    min_count = models.PositiveIntegerField(
        default=0, help_text="Ignore windows with fewer rows than this (noise on tiny samples)."
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=360,
        help_text="After an alert resolves, a recurrence within this time reopens it silently.",
    )
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["metric", "threshold"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """A condition found by the monitoring job, open until the metric comes back within its
    rules. One row per (product, model version, metric, feature, window length): a condition that
    persists updates this row (de-duplication) rather than raising another."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(max_length=200, db_index=True)
    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="alerts")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    model_version = models.CharField(max_length=32, blank=True)
    metric = models.CharField(max_length=40)
    feature = models.CharField(max_length=64, blank=True)
    window = models.CharField(max_length=16)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    value = models.FloatField(null=True)
    threshold = models.FloatField()
    message = models.CharField(max_length=300)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_note = models.TextField(blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            # At most one unresolved alert per condition: the database keeps de-duplication honest
            # when two jobs run at once.
            models.UniqueConstraint(
                fields=["key"], condition=~models.Q(status="resolved"), name="monitoring_one_live_alert_per_key"
            )
        ]

    def __str__(self) -> str:
        return self.message


class NotificationTarget(models.Model):
    """Where alerts are sent: an e-mail address list or a webhook (HMAC-signed like review
    webhooks). Only alerts at or above `min_severity` are sent."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    address = models.CharField(
        max_length=500, help_text="Comma-separated e-mail addresses, or the webhook URL (http/https)."
    )
    secret = models.CharField(max_length=64, blank=True, help_text="HMAC-SHA256 key (webhooks).")
    min_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertNotification(models.Model):
    """One notification of one alert event to one target (an outbox row): written in the job's
    transaction, sent by a Celery task after commit, with every attempt recorded."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="notifications")
    target = models.ForeignKey(NotificationTarget, on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=20, help_text="opened / escalated")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} → {self.target} ({self.status})"
