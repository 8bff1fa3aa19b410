"""An unsealed-event backlog raises a monitoring alert, escalates, and resolves once sealed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from audit.backlog import backlog_check
from audit.models import AuditEvent
from audit.services import chain_seal
from monitoring import checks
from monitoring.models import Alert, AlertRule, MetricPoint
from tests.audit.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def unsealed_decision(settings: Any, decide_via_api: Any) -> Any:
    settings.AUDIT_SEAL_MODE = "scheduled"  # as in production: only the (stopped) sealer seals
    chain_seal()  # whatever the fixtures wrote
    decision = decide_via_api()
    assert AuditEvent.objects.filter(position__isnull=True, subject_id=str(decision.pk)).exists()
    return decision


def test_the_rules_are_seeded() -> None:
    rules = AlertRule.objects.filter(metric=checks.AUDIT_UNSEALED_AGE).order_by("threshold")
    assert [(r.threshold, r.severity) for r in rules] == [(15.0, "warning"), (120.0, "critical")]


def test_a_sealer_that_stopped_raises_escalates_and_resolves(unsealed_decision: Any) -> None:
    made = AuditEvent.objects.get(subject_id=str(unsealed_decision.pk)).occurred_at
    assert backlog_check(now=made + dt.timedelta(seconds=5)) == 0  # within a few seconds: fine
    assert not Alert.objects.exists()

    assert backlog_check(now=made + dt.timedelta(seconds=20)) == 1
    alert = Alert.objects.get(metric=checks.AUDIT_UNSEALED_AGE)
    assert (alert.severity, alert.product.code, alert.status) == (
        "warning",
        "personal-loan",
        "open",
    )
    assert alert.value == pytest.approx(20.0)

    backlog_check(now=made + dt.timedelta(seconds=150))
    alert.refresh_from_db()
    assert alert.severity == "critical" and alert.occurrences == 2  # escalated, not duplicated
    point = MetricPoint.objects.filter(metric=checks.AUDIT_UNSEALED_AGE).latest("computed_at")
    assert point.details["unsealed"] == 1 and point.details["chain_unsealed"] >= 1

    chain_seal()  # the sealer is back
    backlog_check(now=made + dt.timedelta(seconds=160))
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_no_backlog_writes_nothing(decide_via_api: Any) -> None:
    decide_via_api()
    chain_seal()
    assert backlog_check(now=timezone.now() + dt.timedelta(hours=1)) == 0
    assert not MetricPoint.objects.exists()


def test_the_audit_page_shows_the_backlog(unsealed_decision: Any, auditor: Any) -> None:
    r = signed_in(auditor).get("/audit/")
    assert r.status_code == 200 and b'id="unsealed-backlog"' in r.content
    assert r.context["unsealed"] >= 1 and r.context["unsealed_age"] is not None
    made = AuditEvent.objects.get(subject_id=str(unsealed_decision.pk)).occurred_at
    backlog_check(now=made + dt.timedelta(seconds=200))
    r = signed_in(auditor).get("/audit/")
    assert b"Critical alert: Oldest decision not yet sealed" in r.content


def test_the_check_is_framework_free() -> None:
    [m] = checks.audit_backlog_checks(
        unsealed=0, oldest_age_s=None, chain_unsealed=3, chain_oldest_age_s=9.5
    )
    assert (m.metric, m.value, m.details["chain_unsealed"]) == (checks.AUDIT_UNSEALED_AGE, 0.0, 3)
