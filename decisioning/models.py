from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from audit.immutable import ImmutableManager
from decisioning.engine.types import (
    EmploymentStatus,
    LoanPurpose,
    Outcome,
    ResidentialStatus,
)


def _choices(enum: type) -> list[tuple[str, str]]:
    return [(member.value, member.value.replace("_", " ").capitalize()) for member in enum]


class Product(models.Model):
    """A product line (a personal loan, a credit card) and the limits within which it lends."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    min_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("1000"))
    max_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("25000"))
    min_term_months = models.PositiveSmallIntegerField(default=12)
    max_term_months = models.PositiveSmallIntegerField(default=60)
    review_sla_minutes = models.PositiveIntegerField(
        default=240, help_text="Time a referred case may wait for a final decision."
    )
    four_eyes_amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("15000"),
        help_text="An underwriter's approval above this amount needs a senior's second approval.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class IntegrationClient(models.Model):
    """An external system (origination front-end, broker partner) that calls the decision API."""

    name = models.CharField(max_length=120, unique=True)
    contact_email = models.EmailField(blank=True)
    webhook_url = models.URLField(blank=True, help_text="Where final outcomes are POSTed (signed).")
    webhook_secret = models.CharField(
        max_length=64, blank=True, help_text="HMAC-SHA256 key for webhook signatures."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A revocable credential of an integration client. Only the SHA-256 of the secret is kept."""

    client = models.ForeignKey(IntegrationClient, on_delete=models.PROTECT, related_name="tokens")
    label = models.CharField(max_length=120, blank=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.client} {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Application(models.Model):
    """A loan application exactly as an integration submitted it. Never changed after it is decided."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(IntegrationClient, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="applications")
    reference = models.CharField(max_length=64, blank=True, db_index=True)

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    postcode = models.CharField(max_length=10)
    uk_resident = models.BooleanField()
    residential_status = models.CharField(max_length=24, choices=_choices(ResidentialStatus))
    months_at_address = models.PositiveIntegerField()
    employment_status = models.CharField(max_length=24, choices=_choices(EmploymentStatus))
    months_in_employment = models.PositiveIntegerField()
    annual_income = models.DecimalField(max_digits=12, decimal_places=2)
    monthly_expenditure = models.DecimalField(max_digits=12, decimal_places=2)
    existing_debt = models.DecimalField(max_digits=12, decimal_places=2)
    monthly_debt_payments = models.DecimalField(max_digits=12, decimal_places=2)
    dependants = models.PositiveSmallIntegerField()
    requested_amount = models.DecimalField(max_digits=12, decimal_places=2)
    term_months = models.PositiveSmallIntegerField()
    purpose = models.CharField(max_length=32, choices=_choices(LoanPurpose))
    bankrupt_or_iva = models.BooleanField(default=False)

    identity_hash = models.CharField(
        max_length=64, db_index=True, help_text="SHA-256 of the applicant identity: links applications."
    )
    submitted_at = models.DateTimeField()

    objects = ImmutableManager()  # append-only; the database enforces it (audit.0004)

    class Meta:
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return self.reference or str(self.id)


class Decision(models.Model):
    """The engine's answer to one application, with everything needed to reconstruct it.

    Immutable: a reviewer's final verdict is a `reviews.ReviewCase`, a loan's performance a
    `LoanOutcome`; neither changes this row.
    """

    class OutcomeChoice(models.TextChoices):
        APPROVE = Outcome.APPROVE.value, "Approve"
        REFER = Outcome.REFER.value, "Refer"
        DECLINE = Outcome.DECLINE.value, "Decline"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="decision")
    client = models.ForeignKey(IntegrationClient, on_delete=models.PROTECT, related_name="decisions")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(max_length=8, choices=OutcomeChoice.choices, db_index=True)
    pd = models.FloatField(
        null=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="Probability of default"
    )
    pd_lower = models.FloatField(null=True)
    pd_upper = models.FloatField(null=True)
    approved_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    reasons = models.JSONField(default=list)
    rule_results = models.JSONField(default=list)
    features = models.JSONField(default=dict)
    signals = models.JSONField(default=list)
    explanation = models.JSONField(default=dict)
    counterfactual = models.JSONField(null=True)
    ruleset_version = models.CharField(max_length=64)
    feature_version = models.CharField(max_length=32)
    model_name = models.CharField(max_length=120, blank=True)
    model_version = models.CharField(max_length=32, blank=True)
    model_hash = models.CharField(max_length=64, blank=True)
    degraded = models.BooleanField(default=False)
    latency_ms = models.FloatField()
    request_id = models.CharField(max_length=64)
    # NULL, not "": the unique (client, idempotency_key) constraint must allow many key-less decisions
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)

    objects = ImmutableManager()  # append-only; the database enforces it (audit.0004)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="decision_unique_idempotency_key_per_client",
            ),
            models.CheckConstraint(
                condition=models.Q(pd__isnull=True) | models.Q(pd__gte=0, pd__lte=1),
                name="decision_pd_is_a_probability",
            ),
        ]
        indexes = [models.Index(fields=["client", "-created_at"]), models.Index(fields=["product", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.id} {self.outcome}"


class LoanOutcome(models.Model):
    """A report of how a loan performed (append-only: a later report supersedes an earlier one)."""

    class Status(models.TextChoices):
        REPAID = "repaid", "Repaid"
        IN_ARREARS = "in_arrears", "In arrears"
        DEFAULTED = "defaulted", "Defaulted"
        PERFORMING = "performing", "Performing"

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="loan_outcomes")
    status = models.CharField(max_length=12, choices=Status.choices)
    as_of = models.DateField(help_text="Date the status applies to.")
    default_date = models.DateField(null=True, blank=True)
    arrears_months = models.PositiveSmallIntegerField(default=0)
    reported_at = models.DateTimeField()
    reported_by = models.ForeignKey(IntegrationClient, on_delete=models.PROTECT, related_name="+")

    objects = ImmutableManager()  # append-only; the database enforces it (audit.0004)

    class Meta:
        ordering = ["-as_of", "-reported_at"]

    def __str__(self) -> str:
        return f"{self.decision_id} {self.status} @ {self.as_of}"

    @property
    def is_bad(self) -> bool:
        return self.status == self.Status.DEFAULTED


# ---- rule sets (docs/rules.md) -------------------------------------------------------------------


class ReasonCode(models.Model):
    """A reason a decision can give, with the wording a customer may be shown (it is printed in
    adverse-action notices, so it is managed here and its every change is audited)."""

    code = models.CharField(
        max_length=40, unique=True,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9_]*$", "Upper case letters, digits and underscores.")],
    )
    customer_text = models.CharField(
        max_length=300, help_text="Customer-facing wording, usable in an adverse-action notice."
    )
    description = models.TextField(blank=True, help_text="Internal meaning, for analysts and underwriters.")
    is_active = models.BooleanField(default=True, help_text="Inactive codes cannot be used by new rules.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class RuleSet(models.Model):
    """The credit policy of one product: a series of immutable versions, at most one published."""

    product = models.OneToOneField(Product, on_delete=models.PROTECT, related_name="rule_set")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product__code"]

    def __str__(self) -> str:
        return self.name


class RuleSetVersion(models.Model):
    """One version of a product's policy: its rules, cut-offs and reason wording.

    Draft → submitted → published → retired. Only a draft's content can change; a submitted,
    published or retired version is frozen (services, admin and database triggers all refuse).
    `content_hash` is fixed when the version is submitted and identifies exactly what was
    tested, simulated and published.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted for publication"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(editable=False)
    label = models.CharField(max_length=64, unique=True, editable=False, help_text="e.g. personal-loan-v3")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False)
    approve_max_pd = models.FloatField(
        "approve at or below PD", help_text="Approve when the (adjusted) PD is at or below this."
    )
    decline_min_pd = models.FloatField(
        "decline above PD", help_text="Decline when the (adjusted) PD is above this; refer in between."
    )
    change_summary = models.TextField(blank=True, help_text="What changes and why (shown to the publisher).")
    reason_texts = models.JSONField(default=dict, blank=True, editable=False)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    check_findings = models.JSONField(default=list, blank=True, editable=False)
    test_report = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["rule_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "number"], name="ruleset_version_number_unique"),
            models.UniqueConstraint(
                fields=["rule_set"],
                condition=models.Q(status="published"),
                name="ruleset_one_published_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_status_display().lower()})"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class RuleDefinition(models.Model):
    """One rule of one rule-set version: if `condition` then `action` with `reason_code`."""

    class Action(models.TextChoices):
        DECLINE = "decline", "Decline (hard gate)"
        REFER = "refer", "Refer to an underwriter"
        ADJUST_SCORE = "adjust_score", "Adjust the PD by the parameter"
        CAP_AMOUNT = "cap_amount", "Cap the amount at the parameter (GBP)"

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="rules")
    key = models.SlugField(
        max_length=64, help_text="Stable identifier across versions (decisions record it)."
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    condition = models.TextField(help_text="e.g. bureau.ccj_count_6y > 0 and applicant.age < 21")
    action = models.CharField(max_length=16, choices=Action.choices)
    parameter = models.FloatField(
        null=True, blank=True, help_text="PD shift for adjust_score (e.g. 0.02); GBP cap for cap_amount."
    )
    reason_code = models.ForeignKey(
        ReasonCode, to_field="code", db_column="reason_code", on_delete=models.PROTECT, related_name="+"
    )
    order = models.IntegerField(default=0)
    enabled = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "order", "key"]
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="ruleset_rule_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.version.label})" if self.version_id else self.key


class RuleSetTestCase(models.Model):
    """An example application (API request body) with the outcome and reasons a version must give.

    The PD is fixed here (`model_pd`) so a case tests the policy, not the model; signals are the
    deterministic simulators' answers for the applicant, with `signal_overrides` on top
    (e.g. `{"kyc": {"status": "fail"}}`).
    """

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="test_cases")
    name = models.CharField(max_length=120)
    application = models.JSONField(help_text="The API request body: {product, applicant: {…}, loan: {…}}.")
    model_pd = models.FloatField(default=0.02, help_text="The model PD to assume, 0..1.")
    signal_overrides = models.JSONField(default=dict, blank=True)
    expected_outcome = models.CharField(max_length=8, choices=Decision.OutcomeChoice.choices)
    expected_reasons = models.JSONField(
        default=list, blank=True, help_text='Reason codes the decision must include, e.g. ["UNDER_18"].'
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "name"]

    def __str__(self) -> str:
        return self.name


class RuleSetSimulation(models.Model):
    """A background run of a version against the last N stored decisions (see docs/rules.md)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="simulations")
    content_hash = models.CharField(max_length=64, help_text="The exact content simulated.")
    baseline_label = models.CharField(max_length=64, help_text="The published version compared against.")
    sample_size = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0, help_text="0..1")
    error = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Simulation {self.pk} of {self.version.label} ({self.status})"


# ---- batch rescoring (docs/batches.md) -----------------------------------------------------------


class Batch(models.Model):
    """One batch rescoring run: a selection of applications decided through the pipeline's
    `resolve` with one frozen policy version and one frozen model version.

    The selection is stored applications of a product in a date range, an uploaded CSV of
    API-shaped applications, or N generated applications. Work is split into `BatchChunk`s; the
    counters here are advanced in the same transaction that stores a chunk's results, so they
    are exact even when a chunk is retried.
    """

    class Source(models.TextChoices):
        STORED = "stored", "Stored applications"
        UPLOAD = "upload", "Uploaded CSV"
        GENERATED = "generated", "Generated applications"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="batches")
    source = models.CharField(max_length=10, choices=Source.choices)
    client = models.ForeignKey(
        IntegrationClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The integration client that asked (API); its own decisions only.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    date_from = models.DateTimeField(null=True, blank=True, help_text="Stored: decided at or after.")
    date_to = models.DateTimeField(null=True, blank=True, help_text="Stored: decided before.")
    generate_count = models.PositiveIntegerField(null=True, blank=True)
    seed = models.PositiveIntegerField(default=1)
    upload_path = models.CharField(max_length=300, blank=True, help_text="Uploaded CSV under VAR_DIR.")
    as_of = models.DateField(help_text="Decision date for uploaded applications.")
    requested_ruleset_version = models.CharField(
        max_length=64, blank=True, help_text="What-if rule-set version; blank: the live one."
    )
    requested_model_version = models.CharField(
        max_length=32, blank=True, help_text="What-if model version; blank: the champion."
    )
    ruleset_version = models.CharField(max_length=64, blank=True, help_text="Frozen when planned.")
    model_name = models.CharField(max_length=120, blank=True)
    model_version = models.CharField(max_length=32, blank=True, help_text="Frozen when planned.")
    chunk_size = models.PositiveIntegerField(default=5000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Items processed (decided or errored).")
    errors = models.PositiveIntegerField(default=0, help_text="Items that could not be decided.")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    error_samples = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    throughput = models.FloatField(null=True, blank=True, help_text="Items per second, start to finish.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.get_source_display().lower()}, {self.status})"

    @property
    def progress(self) -> float:
        return 1.0 if self.status == self.Status.DONE else (self.done / self.total if self.total else 0.0)

    @property
    def is_what_if(self) -> bool:
        return bool(self.requested_ruleset_version or self.requested_model_version)


class BatchChunk(models.Model):
    """A slice of a batch's selection, claimed by one worker at a time under a lease.

    Stored selections are keyset ranges of decision ids (`after_key`, `last_key`]; uploads and
    generated batches are item ranges [`start`, `start + size`) (uploads also keep the byte offset
    of their first row). A chunk is finished in the transaction that stores its results, so a
    worker killed midway leaves it `running` with an expired lease: it is then claimed again and
    processed once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    start = models.PositiveIntegerField(help_text="Item number of the chunk's first item.")
    size = models.PositiveIntegerField()
    after_key = models.CharField(max_length=64, blank=True)
    last_key = models.CharField(max_length=64, blank=True)
    byte_offset = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "seq"]
        constraints = [models.UniqueConstraint(fields=["batch", "seq"], name="batch_chunk_seq_unique")]
        indexes = [models.Index(fields=["batch", "status"], name="batch_chunk_status")]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of batch {self.batch_id} ({self.status})"


class BatchResult(models.Model):
    """The rescored outcome of one item of a batch (append-only; one row per item, ever)."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="results", db_index=False)
    item = models.PositiveIntegerField(help_text="Position of the item in the batch's selection.")
    reference = models.CharField(max_length=64, blank=True)
    application_id = models.UUIDField(null=True, blank=True, help_text="Stored selections only.")
    outcome = models.CharField(max_length=8, blank=True, help_text="Blank when the item errored.")
    pd = models.FloatField(null=True)
    pd_lower = models.FloatField(null=True)
    pd_upper = models.FloatField(null=True)
    approved_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    reasons = models.CharField(max_length=400, blank=True, help_text="Reason codes, space-separated.")
    original_outcome = models.CharField(max_length=8, blank=True)
    original_pd = models.FloatField(null=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["batch", "item"]
        constraints = [models.UniqueConstraint(fields=["batch", "item"], name="batch_result_item_unique")]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.item} {self.outcome}"
