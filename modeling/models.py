"""Champion/challenger records (docs/champion_challenger.md).

MLflow aliases say which booster a process loads; these rows say which version holds which role
*for the business*: since when, on whose authority, and what it replaced. The promotion gate, the
shadow report and the audit trail read the rows; the aliases are a mirror kept in step by
`modeling.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from audit.immutable import ImmutableManager
from decisioning.models import Decision, Product


class PromotionGate(models.Model):
    """The conditions a challenger of one product must meet before it may be promoted.

    One row per product (created with the defaults on first use). Rates are fractions (0..1).
    """

    product = models.OneToOneField(Product, on_delete=models.PROTECT, related_name="promotion_gate")
    min_shadow_days = models.PositiveSmallIntegerField(
        default=14, help_text="Days a challenger must have shadowed live traffic."
    )
    min_volume = models.PositiveIntegerField(
        default=1000, help_text="Decisions the challenger must have scored in shadow."
    )
    min_coverage = models.FloatField(
        default=0.95, help_text="Share of the window's decisions the challenger must have scored."
    )
    max_psi = models.FloatField(
        default=0.25,
        help_text="Largest PSI allowed between champion and challenger PD distributions.",
    )
    max_approval_rate_change = models.FloatField(
        default=0.05, help_text="Largest absolute change of the approval rate (0.05 = 5 points)."
    )
    min_agreement_rate = models.FloatField(
        default=0.80,
        help_text="Smallest share of decisions on which both models give the same outcome.",
    )
    auc_alpha = models.FloatField(
        default=0.05,
        help_text="A challenger whose AUC is lower than the champion's at this significance blocks promotion.",
    )
    min_matured = models.PositiveIntegerField(
        default=200,
        help_text="Matured loans (with both classes) needed before the AUC test counts.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product__code"]

    def __str__(self) -> str:
        return f"Promotion gate of {self.product.code}"


class ModelAssignment(models.Model):
    """One model version holding one role (champion or challenger) for one product, from
    `started_at` until `ended_at` (open while it holds it).

    A challenger's shadow window starts at its `started_at`. A champion row records the champion
    it replaced (`previous_version`), which is where a rollback goes back to.
    """

    class Role(models.TextChoices):
        CHAMPION = "champion", "Champion"
        CHALLENGER = "challenger", "Challenger"

    class EndReason(models.TextChoices):
        PROMOTED = "promoted", "Promoted to champion"
        REPLACED = "replaced", "Replaced by a promotion"
        ROLLED_BACK = "rolled_back", "Rolled back"
        STOPPED = "stopped", "Shadowing stopped"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="model_assignments")
    role = models.CharField(max_length=10, choices=Role.choices)
    model_name = models.CharField(max_length=120)
    model_version = models.CharField(max_length=32)
    model_hash = models.CharField(max_length=64, blank=True)
    previous_version = models.CharField(
        max_length=32, blank=True, help_text="Champion rows: the champion this one replaced."
    )
    rationale = models.TextField(blank=True)
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=12, choices=EndReason.choices, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product", "-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"],
                condition=models.Q(role="champion", ended_at__isnull=True),
                name="modeling_one_champion_per_product",
            ),
            models.UniqueConstraint(
                fields=["product", "model_version"],
                condition=models.Q(ended_at__isnull=True),
                name="modeling_one_open_role_per_version",
            ),
        ]
        indexes = [models.Index(fields=["product", "role", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} {self.role}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class ShadowScore(models.Model):
    """What one challenger version would have decided for one live decision: its PD, the outcome
    the same policy version would have given with that PD (through `pipeline.resolve`), and its
    reasons. It never changed the decision.

    One row per (decision, challenger version): a retried task finds the row and stops. The
    champion's side is copied from the decision so the report (and drift monitoring) read one
    table.
    """

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="shadow_scores")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    model_name = models.CharField(max_length=120)
    model_version = models.CharField(max_length=32)
    model_hash = models.CharField(max_length=64)
    raw_pd = models.FloatField(help_text="The challenger model's PD.")
    pd = models.FloatField(
        help_text="The PD after the policy's score adjustments (what cut-offs see)."
    )
    pd_lower = models.FloatField(null=True)
    pd_upper = models.FloatField(null=True)
    outcome = models.CharField(max_length=8, choices=Decision.OutcomeChoice.choices)
    reasons = models.JSONField(default=list)
    ruleset_version = models.CharField(max_length=64)
    champion_version = models.CharField(max_length=32, blank=True)
    champion_pd = models.FloatField(null=True)
    champion_outcome = models.CharField(max_length=8, choices=Decision.OutcomeChoice.choices)
    decided_at = models.DateTimeField(
        help_text="When the live decision was made (the window clock)."
    )
    scored_at = models.DateTimeField()
    score_ms = models.FloatField(help_text="Time to score and resolve, for the cost record.")

    objects = ImmutableManager()  # evidence: append-only like the decision it shadows

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "model_name", "model_version"],
                name="modeling_shadow_once_per_decision",
            ),
        ]
        indexes = [models.Index(fields=["product", "model_version", "decided_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} on {self.decision_id}: {self.outcome}"
