"""Prometheus /metrics: bearer token when configured, disabled without one unless DEBUG."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.models import Alert, AlertRule
from tests.monitoring.conftest import live_cases

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-0123456789"


def test_without_a_token_it_is_off_in_production(settings: Any) -> None:
    settings.METRICS_TOKEN, settings.DEBUG = "", False
    assert Client().get("/metrics").status_code == 404


def test_without_a_token_it_is_open_in_debug(settings: Any, product: Any) -> None:
    settings.METRICS_TOKEN, settings.DEBUG = "", True
    assert Client().get("/metrics").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Token {TOKEN}", TOKEN])
def test_a_wrong_or_missing_token_is_refused(settings: Any, header: str | None) -> None:
    settings.METRICS_TOKEN = TOKEN
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get("/metrics", **kwargs)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_it_exposes_decisions_latency_model_queue_and_alerts(
    settings: Any, store: Callable[..., Any], with_baseline: Any, django_assert_max_num_queries: Any
) -> None:
    from reviews.models import ReviewCase

    settings.METRICS_TOKEN = TOKEN
    now = timezone.now()
    decisions = store(live_cases(60, seed=3), now - dt.timedelta(minutes=5), now)
    refer = next(d for d in decisions if d.outcome == "refer")
    ReviewCase.objects.create(decision=refer, rank_at=now, due_at=now, created_at=now)
    Alert.objects.create(
        key="k", rule=AlertRule.objects.first(), product=with_baseline, metric="feature_psi", feature="annual_income",
        window="24h", severity="critical", threshold=0.25, value=0.4, message="m", window_start=now, window_end=now,
        first_seen_at=now, last_seen_at=now,
    )
    with django_assert_max_num_queries(10):
        response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    by_outcome = {s.labels["outcome"]: s.value for s in families["verdict_decisions"].samples if s.name.endswith("_total")}
    assert sum(by_outcome.values()) == 60
    buckets = [s for s in families["verdict_decision_latency_seconds"].samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 60
    assert next(s for s in buckets if s.labels["le"] == "0.025").value == 60  # 12-18 ms
    info = families["verdict_model_info"].samples[0]
    assert info.labels == {"product": "personal-loan", "model_name": "verdict-personal-loan", "model_version": "1"}
    assert families["verdict_review_queue_depth"].samples[0].value == 1
    assert families["verdict_monitoring_alerts"].samples[0].labels["severity"] == "critical"
