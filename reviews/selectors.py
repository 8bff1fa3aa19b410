"""Review reads, scoped to what the caller may see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from config.errors import NotFound
from decisioning.engine.reasons import REASONS
from decisioning.models import Application, Decision
from reviews.models import ReviewCase

#: PD bands shown in the queue: (code, label, lower bound inclusive, upper bound exclusive).
PD_BANDS: tuple[tuple[str, str, float, float], ...] = (
    ("A", "A  < 3%", 0.0, 0.03),
    ("B", "B  3–8%", 0.03, 0.08),  # noqa: RUF001 — typographic dash in UI text
    ("C", "C  8–15%", 0.08, 0.15),  # noqa: RUF001 — typographic dash in UI text
    ("D", "D  15–25%", 0.15, 0.25),  # noqa: RUF001 — typographic dash in UI text
    ("E", "E  ≥ 25%", 0.25, 1.01),
)

SORTS: dict[str, tuple[str, ...]] = {
    "due": ("due_at", "id"),
    "-due": ("-due_at", "-id"),
    "priority": ("rank_at", "id"),  # ascending rank_at = highest amount + waiting first
    "-priority": ("-rank_at", "-id"),
    "amount": ("decision__application__requested_amount", "id"),
    "-amount": ("-decision__application__requested_amount", "-id"),
    "pd": ("decision__pd", "id"),
    "-pd": ("-decision__pd", "-id"),
    "age": ("-created_at", "-id"),
    "-age": ("created_at", "id"),
}
SCOPES = ("all", "mine", "unassigned", "approvals")

# The queue never needs the big JSON columns of a decision.
_HEAVY = (
    "decision__features",
    "decision__signals",
    "decision__explanation",
    "decision__rule_results",
)


def pd_band(pd: float | None) -> str:
    if pd is None:
        return "—"
    for code, _label, lo, hi in PD_BANDS:
        if lo <= pd < hi:
            return code
    return "E"


def reason_catalogue() -> dict[str, str]:
    """Code → customer wording. The managed catalogue if the rules work has added one (a
    `decisioning.ReasonCode` model with rows), else the built-in REASONS."""
    try:
        from decisioning import models as dm

        model = getattr(dm, "ReasonCode", None)
        if model is not None:
            fields = {f.name for f in model._meta.get_fields()}
            qs = model.objects.all()
            if "is_active" in fields:
                qs = qs.filter(is_active=True)
            texts = [n for n in ("customer_text", "description", "text") if n in fields]
            rows = {
                r.code: next((getattr(r, n) for n in texts if getattr(r, n, "")), r.code)
                for r in qs
                if getattr(r, "code", None)
            }
            if rows:
                return rows
    except Exception:  # noqa: S110 — a catalogue still being built must not break the queue
        pass
    return dict(REASONS)


@dataclass(frozen=True, slots=True)
class QueueFilters:
    scope: str = "all"
    status: str = ""
    product: str = ""
    band: str = ""
    reason: str = ""
    overdue: bool = False
    q: str = ""
    sort: str = "due"

    @classmethod
    def from_query(cls, params: Any) -> QueueFilters:
        def pick(name: str, allowed: Any, default: str = "") -> str:
            value = (params.get(name) or "").strip()
            return value if value in allowed else default

        return cls(
            scope=pick("scope", SCOPES, "all"),
            status=pick("status", ReviewCase.Status.values),
            product=(params.get("product") or "").strip()[:40],
            band=pick("band", [b[0] for b in PD_BANDS]),
            reason=(params.get("reason") or "").strip().upper()[:40],
            overdue=params.get("overdue") == "1",
            q=(params.get("q") or "").strip()[:64],
            sort=pick("sort", SORTS, "due"),
        )

    def as_query(self, **override: Any) -> dict[str, str]:
        """The filters as query parameters (for links that keep the reviewer's place)."""
        values = {
            "scope": self.scope,
            "status": self.status,
            "product": self.product,
            "band": self.band,
            "reason": self.reason,
            "overdue": "1" if self.overdue else "",
            "q": self.q,
            "sort": self.sort,
        }
        values.update({k: str(v) for k, v in override.items()})
        return {
            k: v
            for k, v in values.items()
            if v and not (k == "scope" and v == "all") and not (k == "sort" and v == "due")
        }


def case_queue(
    *,
    user: Any,
    filters: QueueFilters | None = None,
    now: dt.datetime | None = None,
    status: str | None = None,
    mine: bool = False,
) -> QuerySet[ReviewCase]:
    if not user.has_perm("reviews.view_queue"):
        return ReviewCase.objects.none()
    f = filters or QueueFilters(status=status or "", scope="mine" if mine else "all")
    qs = ReviewCase.objects.select_related(
        "decision", "decision__product", "decision__application", "assignee", "proposed_by"
    ).defer(*_HEAVY)
    if f.status:
        qs = qs.filter(status=f.status)
    elif f.scope != "approvals":
        qs = qs.exclude(status=ReviewCase.Status.DECIDED)
    if f.scope == "mine":
        qs = qs.filter(assignee=user)
    elif f.scope == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif f.scope == "approvals":
        qs = qs.filter(status=ReviewCase.Status.AWAITING_APPROVAL).exclude(proposed_by=user)
    if f.product:
        qs = qs.filter(decision__product__code=f.product)
    if f.band:
        _code, _label, lo, hi = next(b for b in PD_BANDS if b[0] == f.band)
        qs = qs.filter(decision__pd__gte=lo, decision__pd__lt=hi)
    if f.reason:
        qs = qs.filter(refer_codes__contains=f" {f.reason} ")
    if f.overdue and now is not None:
        qs = qs.filter(due_at__lt=now).exclude(status=ReviewCase.Status.DECIDED)
    if f.q:
        term = f.q.lstrip("#")
        match = Q(decision__application__reference__icontains=f.q)
        if term.isdigit():
            match |= Q(pk=int(term))
        qs = qs.filter(match)
    return qs.order_by(*SORTS[f.sort])


def case_get(*, user: Any, case_id: int) -> ReviewCase:
    """A case the user may see; "not found" whether it is missing or out of reach."""
    if not user.has_perm("reviews.view_queue"):
        raise NotFound("Case not found.")
    try:
        return ReviewCase.objects.select_related(
            "decision",
            "decision__product",
            "decision__application",
            "decision__client",
            "assignee",
            "proposed_by",
            "decided_by",
            "approved_by",
            "opened_by",
        ).get(pk=case_id)
    except ReviewCase.DoesNotExist as e:
        raise NotFound("Case not found.") from e


def case_actions(*, case: ReviewCase) -> list[Any]:
    return list(case.actions.select_related("actor").order_by("created_at", "id"))


def case_timeline(*, case: ReviewCase) -> list[Any]:
    """Every audit event about the case or its decision, oldest first."""
    from audit.models import AuditEvent

    return list(
        AuditEvent.objects.filter(
            Q(subject_type="review_case", subject_id=str(case.pk))
            | Q(subject_type="decision", subject_id=str(case.decision_id))
        ).order_by("seq")
    )


def earlier_applications(*, decision: Decision, limit: int = 20) -> list[Application]:
    """The same applicant's other applications (linked by identity hash), newest first."""
    app = decision.application
    return list(
        Application.objects.filter(identity_hash=app.identity_hash)
        .exclude(pk=app.pk)
        .select_related("product", "decision", "decision__review_case")
        .defer(
            "decision__features",
            "decision__signals",
            "decision__explanation",
            "decision__rule_results",
        )
        .order_by("-submitted_at")[:limit]
    )


def appealable_decisions(*, user: Any, q: str, limit: int = 10) -> list[Decision]:
    """Declined decisions whose reference matches and that have no case yet (for "open appeal")."""
    if not q or not user.has_perm("reviews.work_cases"):
        return []
    return list(
        Decision.objects.filter(
            outcome=Decision.OutcomeChoice.DECLINE,
            application__reference__icontains=q,
            review_case__isnull=True,
        )
        .select_related("application", "product")
        .defer("features", "signals", "explanation", "rule_results")
        .order_by("-created_at")[:limit]
    )


def decision_for_appeal(*, user: Any, decision_id: Any) -> Decision:
    """A declined decision (or one that already has a case): an underwriter sees no more
    through the appeal page than the queue and its search already show."""
    if not user.has_perm("reviews.work_cases"):
        raise NotFound("Decision not found.")
    try:
        return Decision.objects.select_related("application", "product").get(
            Q(outcome=Decision.OutcomeChoice.DECLINE) | Q(review_case__isnull=False), pk=decision_id
        )
    except (Decision.DoesNotExist, ValidationError, ValueError, TypeError) as e:
        raise NotFound("Decision not found.") from e


def underwriters() -> list[Any]:
    from decisioning import roles

    return list(
        get_user_model()
        .objects.filter(
            is_active=True, groups__name__in=[roles.UNDERWRITER, roles.SENIOR_UNDERWRITER]
        )
        .distinct()
        .order_by("first_name", "username")
    )
