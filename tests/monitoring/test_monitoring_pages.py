"""The dashboard, the feature drill-down, acknowledging from the page, and who may see them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from monitoring.models import Alert
from monitoring.services import monitoring_run
from tests.monitoring.conftest import live_cases, signed_in

pytestmark = pytest.mark.django_db
END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def monitored(store: Callable[..., Any], with_baseline: Any) -> Any:
    for i in range(3):
        store(live_cases(120, seed=40 + i, income=1.0 if i < 2 else 0.7), END - (3 - i) * DAY, END - (2 - i) * DAY)
        monitoring_run(product=with_baseline, window="24h", end=END - (2 - i) * DAY)
    return with_baseline


def test_anonymous_users_are_sent_to_sign_in(monitored: Any) -> None:
    response = Client().get("/monitoring/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["underwriter", "analyst", "outsider"])
def test_other_roles_find_nothing(monitored: Any, persona: str, request: pytest.FixtureRequest) -> None:
    client = signed_in(request.getfixturevalue(persona))
    assert client.get("/monitoring/").status_code == 404
    assert client.get(f"/monitoring/{monitored.code}/features/annual_income/").status_code == 404
    alert = Alert.objects.first()
    assert client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/").status_code == 404


def test_a_risk_manager_sees_charts_alerts_and_the_drifted_feature(
    monitored: Any, manager: Any, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(manager)
    with django_assert_max_num_queries(12):
        response = client.get("/monitoring/?window=24h")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<svg") == 5  # drift, score, outcome rates, volume, latency (no reviews/outcomes yet)
    assert html.count("No data in these windows yet.") == 3
    assert 'feature-row band-significant alerting' in html and "annual_income" in html
    assert "Acknowledge</button>" in html
    assert "Monitoring" in html  # nav item
    assert "only for approved applications" in html


def test_an_auditor_sees_the_dashboard_but_cannot_acknowledge(monitored: Any, auditor: Any) -> None:
    client = signed_in(auditor)
    html = client.get("/monitoring/").content.decode()
    assert "annual_income" in html and "Acknowledge</button>" not in html
    alert = Alert.objects.filter(status="open").first()
    assert client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/").status_code == 404
    alert.refresh_from_db()
    assert alert.status == "open"


def test_the_drill_down_shows_baseline_and_current_histograms(monitored: Any, manager: Any) -> None:
    html = signed_in(manager).get(f"/monitoring/{monitored.code}/features/annual_income/?window=24h").content.decode()
    assert "training baseline" in html and "current window" in html
    assert html.count("<tr><td>") >= 11  # ten frozen bins and the missing bucket
    assert "significant" in html


@pytest.mark.parametrize(
    "url", ["/monitoring/?window=1w", "/monitoring/?product=nope", "/monitoring/personal-loan/features/nope/"]
)
def test_bad_input_is_not_found(monitored: Any, manager: Any, url: str) -> None:
    assert signed_in(manager).get(url).status_code == 404


def test_acknowledging_twice_says_so(monitored: Any, manager: Any) -> None:
    client = signed_in(manager)
    alert = Alert.objects.filter(status="open").first()
    assert client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/", {"note": "on it"}).status_code == 302
    response = client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/", follow=True)
    assert "acknowledged" in response.content.decode().lower()
    alert.refresh_from_db()
    assert alert.acknowledged_by == manager and alert.acknowledge_note == "on it"


def test_an_empty_product_shows_how_to_start(product: Any, manager: Any) -> None:
    html = signed_in(manager).get("/monitoring/").content.decode()
    assert "manage.py run_monitoring" in html and "No open alerts." in html
