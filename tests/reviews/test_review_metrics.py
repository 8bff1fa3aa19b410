"""Reviewer metrics: straight-through rate, time to decision, queue age, override rates, and how
overridden approvals later performed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from decisioning.models import LoanOutcome
from reviews import services
from reviews.metrics import percentile, reviewer_metrics
from tests.conftest import make_user
from tests.reviews.conftest import fresh

RATIONALE = "Income verified from three months of payslips; affordable."


def decide(case: Any, user: Any, outcome: str, senior: Any = None, **kw: Any) -> None:
    services.case_claim(actor=user, case_id=case.pk, expected_version=fresh(case).version)
    result = services.case_decide(
        actor=user,
        case_id=case.pk,
        expected_version=fresh(case).version,
        outcome=outcome,
        rationale=RATIONALE,
        **kw,
    )
    if result.needs_approval:
        services.case_approve_override(
            actor=senior, case_id=case.pk, expected_version=fresh(case).version, rationale=RATIONALE
        )


def report(decision: Any, status: str, integration: Any) -> None:
    today = timezone.now().date()
    with transaction.atomic():
        LoanOutcome.objects.create(
            decision=decision,
            status=status,
            as_of=today,
            default_date=today if status == "defaulted" else None,
            reported_at=timezone.now(),
            reported_by=integration[0],
        )


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 90, None), ([5], 90, 5), (list(range(1, 11)), 90, 9), (list(range(1, 11)), 50, 5)],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_the_numbers(
    make: Callable[..., Any], underwriter: Any, senior: Any, integration: Any
) -> None:
    now = timezone.now()
    ursula = make_user("ursula", "underwriter")
    for _ in range(6):
        make(outcome="approve", pd=0.02)  # straight through
    straight = make(outcome="approve", pd=0.02)
    c1 = make(created_at=now - dt.timedelta(minutes=30), fired=("recent_ccj",)).review_case
    c2 = make(amount="20000.00", created_at=now - dt.timedelta(minutes=90)).review_case
    c3 = make(created_at=now - dt.timedelta(minutes=10)).review_case  # stays open
    make(created_at=now - dt.timedelta(hours=6))  # open and overdue
    decide(c1, underwriter, "decline", reason_codes=["RECENT_CCJ"])
    decide(c2, ursula, "approve", senior=senior)  # an override (four-eyes)

    report(straight.pk and straight, "repaid", integration)
    report(c2.decision, "defaulted", integration)

    m = reviewer_metrics(now=timezone.now(), days=30)
    assert (m.decisions, m.referred) == (11, 4)
    assert m.straight_through_rate == pytest.approx(7 / 11)
    assert m.decided == 2
    assert 29 <= m.median_minutes <= 92 and 89 <= m.p90_minutes <= 92
    assert (m.open_cases, m.overdue) == (2, 1)
    assert dict(m.age_buckets)["< 15 min"] == 1 and dict(m.age_buckets)["4–24 h"] == 1  # noqa: RUF001 — typographic dash in UI text
    rates = {r.label: r for r in m.by_reviewer}
    assert (rates["Uma"].decided, rates["Uma"].overrides) == (1, 0)
    assert (rates["Ursula"].decided, rates["Ursula"].overrides, rates["Ursula"].override_rate) == (
        1,
        1,
        1.0,
    )
    assert {r.label: r.decided for r in m.by_reason} == {"RECENT_CCJ": 1, "PD_REFER_BAND": 1}
    assert m.by_product[0].decided == 2 and m.by_product[0].override_rate == 0.5
    perf = {p.label: p for p in m.performance}
    assert (
        perf["Approved by the engine"].loans == 7 and perf["Approved by the engine"].bad_rate == 0.0
    )
    assert perf["Approved by override (four-eyes)"].defaulted == 1
    assert perf["Approved by override (four-eyes)"].bad_rate == 1.0
    assert c3.pk


def test_the_page_renders_svg_charts(
    client: Client, underwriter: Any, make: Callable[..., Any]
) -> None:
    make()
    client.force_login(underwriter)
    r = client.get("/reviews/metrics/?days=7")
    body = r.content.decode()
    assert r.status_code == 200 and r.context["days"] == 7
    assert body.count('<svg class="chart"') >= 2
    assert "Straight-through rate" in body and "P90" in body
    assert client.get("/reviews/metrics/?days=abc").context["days"] == 30


def test_the_page_is_for_queue_roles_only(client: Client, outsider: Any) -> None:
    client.force_login(outsider)
    assert client.get("/reviews/metrics/").status_code == 404
