"""Alert rules from the admin, de-duplication, cool-down, escalation, acknowledgement (audited),
and notifications by e-mail and by signed webhook with retries (after commit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.core import mail

from audit.models import AuditEvent
from config.errors import Conflict
from monitoring import checks
from monitoring.models import Alert, AlertNotification, AlertRule, MetricPoint, NotificationTarget
from monitoring.services import alert_acknowledge, alerts_evaluate

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SECRET = "whsec-monitoring-0123456789"


def point(product: Any, value: float, *, at: dt.datetime = T0, metric: str = checks.FEATURE_PSI,
          feature: str = "annual_income", n: int = 500) -> MetricPoint:
    return MetricPoint.objects.create(
        product=product, model_version="1", metric=metric, feature=feature, window="24h",
        window_start=at - dt.timedelta(days=1), window_end=at, value=value, details={"n": n}, computed_at=at,
    )


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks: Any) -> Any:
    """One evaluation in its own transaction, with after-commit callbacks (the notification
    tasks) run as a real commit would run them."""
    from django.db import transaction

    def run(product: Any, value: float, *, at: dt.datetime = T0, **kw: Any) -> int:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            return alerts_evaluate(product=product, window="24h", points=[point(product, value, at=at, **kw)], now=at)

    return run


def test_the_default_rules_are_seeded_with_severities() -> None:
    psi = AlertRule.objects.filter(metric=checks.FEATURE_PSI).order_by("threshold")
    assert [(r.threshold, r.severity) for r in psi] == [(0.1, "warning"), (0.25, "critical")]
    assert AlertRule.objects.get(metric=checks.LATENCY_P95).threshold == 200


def test_a_breach_opens_one_alert_and_a_persisting_one_updates_it(product: Any, evaluate: Any) -> None:
    assert evaluate(product, 0.15) == 1
    assert evaluate(product, 0.16, at=T0 + dt.timedelta(days=1)) == 0
    alert = Alert.objects.get()
    assert (alert.status, alert.severity, alert.occurrences) == ("open", "warning", 2)
    assert alert.value == pytest.approx(0.16) and "annual_income" in alert.message


def test_below_the_minimum_sample_nothing_fires(product: Any, evaluate: Any) -> None:
    assert evaluate(product, 0.9, n=20) == 0
    assert not Alert.objects.exists()


def test_a_more_severe_breach_escalates_and_notifies_again(product: Any, evaluate: Any) -> None:
    NotificationTarget.objects.create(name="risk", kind="email", address="risk@example.com")
    evaluate(product, 0.15)
    evaluate(product, 0.40, at=T0 + dt.timedelta(days=1))
    alert = Alert.objects.get()
    assert alert.severity == "critical" and alert.threshold == 0.25
    assert list(AlertNotification.objects.order_by("created_at").values_list("event", flat=True)) == ["opened", "escalated"]
    assert len(mail.outbox) == 2 and "CRITICAL" in mail.outbox[1].subject


def test_a_cleared_condition_resolves_and_a_quick_return_reopens_silently(product: Any, evaluate: Any) -> None:
    NotificationTarget.objects.create(name="risk", kind="email", address="risk@example.com")
    evaluate(product, 0.15)
    evaluate(product, 0.02, at=T0 + dt.timedelta(hours=1))
    assert Alert.objects.get().status == "resolved"
    evaluate(product, 0.15, at=T0 + dt.timedelta(hours=2))  # within the 6 h cool-down
    alert = Alert.objects.get()
    assert (alert.status, alert.occurrences) == ("open", 2)
    assert len(mail.outbox) == 1


def test_after_the_cool_down_a_recurrence_is_a_new_alert(product: Any, evaluate: Any) -> None:
    evaluate(product, 0.15)
    evaluate(product, 0.02, at=T0 + dt.timedelta(hours=1))
    evaluate(product, 0.15, at=T0 + dt.timedelta(hours=8))
    assert list(Alert.objects.order_by("first_seen_at").values_list("status", flat=True)) == ["resolved", "open"]


def test_thresholds_edited_in_the_admin_take_effect(product: Any, evaluate: Any) -> None:
    AlertRule.objects.filter(metric=checks.FEATURE_PSI, severity="warning").update(threshold=0.3)
    AlertRule.objects.filter(metric=checks.FEATURE_PSI, severity="critical").update(is_active=False)
    assert evaluate(product, 0.2) == 0
    assert evaluate(product, 0.31, at=T0 + dt.timedelta(days=1)) == 1


def test_acknowledgement_names_the_user_and_is_audited(product: Any, evaluate: Any, manager: Any) -> None:
    evaluate(product, 0.15)
    alert = Alert.objects.get()
    alert_acknowledge(alert_id=alert.pk, actor=manager, note="Cost-of-living squeeze; reviewing cut-offs.")
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", manager)
    event = AuditEvent.objects.get(event_type="monitoring.alert_acknowledged")
    assert event.subject_id == str(alert.pk) and event.actor_id == str(manager.pk)
    assert event.payload["note"].startswith("Cost-of-living")
    with pytest.raises(Conflict):
        alert_acknowledge(alert_id=alert.pk, actor=manager)
    evaluate(product, 0.16, at=T0 + dt.timedelta(days=1))  # still breaching: stays acknowledged
    assert Alert.objects.get().status == "acknowledged"


def test_the_webhook_is_signed_and_retried_after_a_failure(product: Any, evaluate: Any, receiver: Any) -> None:
    NotificationTarget.objects.create(name="ops", kind="webhook", address=receiver.url, secret=SECRET)
    NotificationTarget.objects.create(name="pager", kind="webhook", address=receiver.url, secret=SECRET,
                                      min_severity="critical")
    receiver.statuses = [503]
    evaluate(product, 0.15)  # warning: the critical-only target is not called
    assert len(receiver.requests) == 2  # 503, then delivered on the retry
    request = receiver.requests[-1]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    expected = hmac.new(SECRET.encode(), headers["x-verdict-timestamp"].encode() + b"." + request["body"], hashlib.sha256)
    assert headers["x-verdict-signature"] == "sha256=" + expected.hexdigest()
    body = json.loads(request["body"])
    assert (body["event"], body["feature"], body["severity"]) == ("monitoring.alert.opened", "annual_income", "warning")
    note = AlertNotification.objects.get()
    assert (note.status, note.attempts, note.last_status_code) == ("delivered", 2, 200)


def test_a_refusing_receiver_is_not_retried(product: Any, evaluate: Any, receiver: Any) -> None:
    NotificationTarget.objects.create(name="ops", kind="webhook", address=receiver.url, secret=SECRET)
    receiver.statuses = [401]
    evaluate(product, 0.15)
    assert len(receiver.requests) == 1
    assert AlertNotification.objects.get().status == "failed"


def test_nothing_is_sent_when_the_run_rolls_back(
    product: Any, receiver: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    NotificationTarget.objects.create(name="ops", kind="webhook", address=receiver.url, secret=SECRET)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        alerts_evaluate(product=product, window="24h", points=[point(product, 0.5)], now=T0)
        raise RuntimeError("the run failed after raising the alert")
    assert receiver.requests == [] and not Alert.objects.exists()
