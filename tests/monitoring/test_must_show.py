"""Must show: traffic with injected income drift goes through the real decision pipeline; the
monitoring job finds it; the dashboard shows the drifted feature; the alert reaches a webhook
receiver (a real HTTP server on loopback, signed); a named risk manager acknowledges it."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from decisioning.models import Decision
from monitoring.models import Alert, AlertNotification, NotificationTarget
from tests.monitoring.conftest import signed_in

pytestmark = pytest.mark.django_db
SECRET = "whsec-must-show-0123456789"


def test_income_drift_is_seen_alerted_delivered_and_acknowledged(
    with_baseline: Any, integration: Any, manager: Any, receiver: Any, django_capture_on_commit_callbacks: Any
) -> None:
    NotificationTarget.objects.create(name="risk on-call", kind="webhook", address=receiver.url, secret=SECRET)

    # 1. Traffic: 300 applications with incomes 30% lower, decided by the real pipeline.
    call_command(
        "generate_applications", "--count", "300", "--seed", "77", "--days", "0.01", "--decide",
        "--drift-income", "0.7", "--client", integration[0].name, "--product", with_baseline.code, verbosity=0,
    )
    assert Decision.objects.filter(product=with_baseline, model_version="1").count() == 300

    # 2. The monitoring job over the (still open) daily window; notifications go after commit.
    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_monitoring", "--product", with_baseline.code, "--window", "24h", "--include-current", verbosity=0)

    alert = Alert.objects.get(metric="feature_psi", feature="annual_income")
    assert (alert.status, alert.severity) == ("open", "critical")
    assert not Alert.objects.filter(feature__in=["bureau_score", "age", "term_months", "fraud_score"]).exists()

    # 3. The dashboard shows the drifted feature and its drill-down the shifted histogram.
    client = signed_in(manager)
    html = client.get(f"/monitoring/?product={with_baseline.code}&window=24h").content.decode()
    assert "feature-row band-significant alerting" in html
    assert alert.message in html
    drill = client.get(f"/monitoring/{with_baseline.code}/features/annual_income/?window=24h").content.decode()
    assert "training baseline" in drill and "current window" in drill

    # 4. The alert reached the receiver, signed.
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    hit = next(b for b in bodies if b["feature"] == "annual_income" and b["metric"] == "feature_psi")
    assert hit["severity"] == "critical" and hit["event"] == "monitoring.alert.opened"
    request = receiver.requests[bodies.index(hit)]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    mac = hmac.new(SECRET.encode(), headers["x-verdict-timestamp"].encode() + b"." + request["body"], hashlib.sha256)
    assert headers["x-verdict-signature"] == "sha256=" + mac.hexdigest()
    assert AlertNotification.objects.get(alert=alert).status == "delivered"

    # 5. A named user acknowledges it from the dashboard; the audit trail records who.
    response = client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/", {"note": "Income squeeze; cut-off review."})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", manager)
    event = AuditEvent.objects.get(event_type="monitoring.alert_acknowledged", subject_id=str(alert.pk))
    assert event.actor_display == manager.get_full_name()
    html = client.get(f"/monitoring/?product={with_baseline.code}&window=24h").content.decode()
    assert "Income squeeze; cut-off review." in html
