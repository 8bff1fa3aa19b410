"""Reviewer metrics (reads only). An *override* is a final outcome that needed a senior's second
approval: approving an application the engine declined, or approving above the product's
four-eyes amount (the issue's "overriding a hard-gate decline or a decision above a configurable
amount")."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from decisioning.models import Decision, LoanOutcome
from reviews.models import ReviewCase

AGE_BUCKETS = (
    ("< 15 min", 15),
    ("15–60 min", 60),  # noqa: RUF001 — typographic dash in UI text
    ("1–4 h", 240),  # noqa: RUF001 — typographic dash in UI text
    ("4–24 h", 1440),  # noqa: RUF001 — typographic dash in UI text
    ("> 24 h", None),
)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0 to 100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Rate:
    label: str
    decided: int = 0
    overrides: int = 0
    approvals: int = 0

    @property
    def override_rate(self) -> float:
        return self.overrides / self.decided if self.decided else 0.0

    @property
    def approval_rate(self) -> float:
        return self.approvals / self.decided if self.decided else 0.0


@dataclass
class Performance:
    label: str
    loans: int = 0
    with_outcome: int = 0
    defaulted: int = 0
    in_arrears: int = 0

    @property
    def bad_rate(self) -> float | None:
        return self.defaulted / self.with_outcome if self.with_outcome else None


@dataclass
class Metrics:
    since: dt.datetime
    days: int
    decisions: int = 0
    referred: int = 0
    decided: int = 0
    median_minutes: float | None = None
    p90_minutes: float | None = None
    open_cases: int = 0
    overdue: int = 0
    median_age_minutes: float | None = None
    oldest_age_minutes: float | None = None
    age_buckets: list[tuple[str, int]] = field(default_factory=list)
    by_reviewer: list[Rate] = field(default_factory=list)
    by_reason: list[Rate] = field(default_factory=list)
    by_product: list[Rate] = field(default_factory=list)
    performance: list[Performance] = field(default_factory=list)

    @property
    def straight_through_rate(self) -> float | None:
        return (self.decisions - self.referred) / self.decisions if self.decisions else None


def _name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user else "—"


def reviewer_metrics(*, now: dt.datetime, days: int = 30) -> Metrics:
    since = now - dt.timedelta(days=days)
    m = Metrics(since=since, days=days)

    recent = Decision.objects.filter(created_at__gte=since)
    m.decisions = recent.count()
    m.referred = recent.filter(outcome=Decision.OutcomeChoice.REFER).count()

    decided = list(
        ReviewCase.objects.filter(status=ReviewCase.Status.DECIDED, decided_at__gte=since)
        .select_related("decided_by", "decision__product")
        .only(
            "created_at",
            "decided_at",
            "final_outcome",
            "is_override",
            "refer_codes",
            "decided_by",
            "decision__product__code",
            "decision__created_at",
        )
    )
    m.decided = len(decided)
    minutes = [(c.decided_at - c.created_at).total_seconds() / 60 for c in decided if c.decided_at]
    m.median_minutes = statistics.median(minutes) if minutes else None
    m.p90_minutes = percentile(minutes, 90)

    reviewers: dict[Any, Rate] = {}
    reasons: dict[str, Rate] = {}
    products: dict[str, Rate] = {}
    for case in decided:
        keys = [
            (reviewers, case.decided_by_id, _name(case.decided_by)),
            (products, case.decision.product.code, case.decision.product.code),
            *[(reasons, code, code) for code in case.codes],
        ]
        for table, key, label in keys:
            rate = table.setdefault(key, Rate(label=label))
            rate.decided += 1
            rate.overrides += int(case.is_override)
            rate.approvals += int(case.final_outcome == ReviewCase.FinalOutcome.APPROVE)
    order = lambda rates: sorted(rates.values(), key=lambda r: (-r.decided, r.label))  # noqa: E731
    m.by_reviewer, m.by_reason, m.by_product = order(reviewers), order(reasons), order(products)

    open_cases = list(
        ReviewCase.objects.exclude(status=ReviewCase.Status.DECIDED).values_list(
            "created_at", "due_at"
        )
    )
    ages = [(now - created).total_seconds() / 60 for created, _due in open_cases]
    m.open_cases = len(open_cases)
    m.overdue = sum(1 for _created, due in open_cases if due < now)
    m.median_age_minutes = statistics.median(ages) if ages else None
    m.oldest_age_minutes = max(ages) if ages else None
    counts = [0] * len(AGE_BUCKETS)
    for age in ages:
        for i, (_label, upper) in enumerate(AGE_BUCKETS):
            if upper is None or age < upper:
                counts[i] += 1
                break
    m.age_buckets = [(label, counts[i]) for i, (label, _u) in enumerate(AGE_BUCKETS)]

    m.performance = _performance()
    return m


def _performance() -> list[Performance]:
    """How approved loans later performed (all time: defaults take months to show), by route."""
    groups = {
        "straight": Performance("Approved by the engine"),
        "reviewed": Performance("Approved by a reviewer"),
        "override": Performance("Approved by override (four-eyes)"),
    }
    route: dict[Any, str] = {}
    for pk in Decision.objects.filter(outcome=Decision.OutcomeChoice.APPROVE).values_list(
        "pk", flat=True
    ):
        route[pk] = "straight"
    for pk, is_override in ReviewCase.objects.filter(
        status=ReviewCase.Status.DECIDED, final_outcome=ReviewCase.FinalOutcome.APPROVE
    ).values_list("decision_id", "is_override"):
        route[pk] = "override" if is_override else "reviewed"
    for key in route.values():
        groups[key].loans += 1
    latest: dict[Any, str] = {}
    # One pass over the outcome reports (no huge IN list); the first per decision is the latest.
    for decision_id, status in (
        LoanOutcome.objects.order_by("decision_id", "-as_of", "-reported_at")
        .values_list("decision_id", "status")
        .iterator(chunk_size=5000)
    ):
        if decision_id in route:
            latest.setdefault(decision_id, status)
    for decision_id, status in latest.items():
        g = groups[route[decision_id]]
        g.with_outcome += 1
        g.defaulted += int(status == LoanOutcome.Status.DEFAULTED)
        g.in_arrears += int(status == LoanOutcome.Status.IN_ARREARS)
    return list(groups.values())
