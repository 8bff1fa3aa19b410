"""The monitoring job: what one run stores, per product and model version, and that it is idempotent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from decisioning.models import LoanOutcome
from monitoring import checks
from monitoring.models import MetricPoint, MonitoringRun
from monitoring.services import aligned_window, monitoring_run, parse_window
from reviews.models import ReviewCase
from tests.monitoring.conftest import live_cases

END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

pytestmark = pytest.mark.django_db


def values(metric: str, feature: str = "", version: str | None = None) -> list[float | None]:
    qs = MetricPoint.objects.filter(metric=metric, feature=feature)
    if version is not None:
        qs = qs.filter(model_version=version)
    return list(qs.order_by("window_end").values_list("value", flat=True))


@pytest.mark.parametrize(
    ("label", "expected"), [("15m", dt.timedelta(minutes=15)), ("1h", dt.timedelta(hours=1)), ("7d", dt.timedelta(days=7))]
)
def test_it_parses_windows(label: str, expected: dt.timedelta) -> None:
    assert parse_window(label) == expected


@pytest.mark.parametrize("label", ["", "0h", "1w", "h", "-1h"])
def test_it_refuses_bad_windows(label: str) -> None:
    with pytest.raises(ValueError):
        parse_window(label)


def test_it_aligns_windows_to_their_length() -> None:
    start, end = aligned_window("1h", now=dt.datetime(2026, 11, 20, 10, 37, tzinfo=dt.UTC))
    assert (start, end) == (dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))


def test_it_stores_every_metric_family_for_a_window(store: Callable[..., Any], with_baseline: Any) -> None:
    store(live_cases(300, seed=5), END - DAY, END)
    run = monitoring_run(product=with_baseline, window="24h", end=END)
    assert run.status == MonitoringRun.Status.DONE and run.decisions == 300
    stored = set(MetricPoint.objects.values_list("metric", flat=True))
    assert {
        checks.FEATURE_PSI, checks.FEATURE_KS, checks.FEATURE_CHI2_P, checks.MISSING_RATE, checks.OUT_OF_RANGE_RATE,
        checks.UNSEEN_CATEGORY_RATE, checks.SCORE_PSI, checks.APPROVE_RATE, checks.REFER_RATE, checks.DECLINE_RATE,
        checks.VOLUME, checks.LATENCY_P50, checks.LATENCY_P95, checks.LATENCY_P99,
    } <= stored
    psi = MetricPoint.objects.get(metric=checks.FEATURE_PSI, feature="annual_income")
    assert psi.model_version == "1" and psi.window_end == END and psi.window_start == END - DAY
    assert len(psi.details["baseline"]) == len(psi.details["current"]) == len(psi.details["edges"]) + 1
    assert MetricPoint.objects.get(metric=checks.VOLUME).model_version == ""  # product level
    assert values(checks.LATENCY_P50) == [pytest.approx(15.0)]  # 12..18 ms evenly


def test_a_rerun_replaces_the_window_instead_of_duplicating_it(store: Callable[..., Any], with_baseline: Any) -> None:
    store(live_cases(150, seed=6), END - DAY, END)
    monitoring_run(product=with_baseline, window="24h", end=END)
    first = MetricPoint.objects.count()
    monitoring_run(product=with_baseline, window="24h", end=END)
    assert MetricPoint.objects.count() == first


def test_it_compares_volume_and_outcome_rates_with_the_trailing_windows(store: Callable[..., Any], with_baseline: Any) -> None:
    for i, n in enumerate((100, 100, 100)):
        store(live_cases(n, seed=20 + i), END - (4 - i) * DAY, END - (3 - i) * DAY)
    store(live_cases(30, seed=30), END - DAY, END)  # volume collapses on the last day
    monitoring_run(product=with_baseline, window="24h", end=END)
    ratio = MetricPoint.objects.get(metric=checks.VOLUME_RATIO)
    assert ratio.value == pytest.approx(0.3)
    assert ratio.details["trailing_windows"] == 3  # no history before the first decision
    assert MetricPoint.objects.filter(metric=checks.APPROVE_RATE_SHIFT, model_version="1").exists()


def test_it_measures_latency_against_the_slo(store: Callable[..., Any], with_baseline: Any) -> None:
    store(live_cases(100, seed=7), END - DAY, END, latency_ms=lambda i: 600.0 if i % 10 == 0 else 20.0)
    monitoring_run(product=with_baseline, window="24h", end=END)
    p95 = MetricPoint.objects.get(metric=checks.LATENCY_P95)
    assert p95.value == pytest.approx(600.0) and p95.details["slo_ms"] == 200 and p95.details["breach"]


def test_it_measures_the_override_rate_of_cases_decided_in_the_window(store: Callable[..., Any], with_baseline: Any) -> None:
    decisions = store(live_cases(40, seed=8), END - DAY, END)
    for i, d in enumerate(decisions[:10]):
        ReviewCase.objects.create(
            decision=d, status=ReviewCase.Status.DECIDED, rank_at=d.created_at, due_at=d.created_at,
            created_at=d.created_at, decided_at=d.created_at, final_outcome="approve", is_override=i < 3,
        )
    monitoring_run(product=with_baseline, window="24h", end=END)
    assert values(checks.OVERRIDE_RATE) == [pytest.approx(0.3)]


@override_settings(MONITORING_OUTCOME_MATURITY_DAYS=0, MONITORING_OUTCOME_COHORT_DAYS=30)
def test_it_measures_performance_on_matured_approved_loans_only(
    store: Callable[..., Any], with_baseline: Any, integration: Any
) -> None:
    decisions = store(live_cases(400, seed=9), END - 10 * DAY, END - 2 * DAY)
    approved = [d for d in decisions if d.outcome == "approve"]
    for d in approved:  # defaults concentrated on the riskier half: the model ranks well
        LoanOutcome.objects.create(
            decision=d, status="defaulted" if d.pd > 0.03 and d.request_id[-1] in "02468" else "performing",
            as_of=(END - DAY).date(), reported_at=END - DAY, reported_by=integration[0],
        )
    monitoring_run(product=with_baseline, window="24h", end=END)
    auc = MetricPoint.objects.get(metric=checks.AUC, model_version="1")
    assert auc.details["n"] == len(approved)
    assert "only for approved applications" in auc.details["note"]
    gini = MetricPoint.objects.get(metric=checks.GINI)
    assert gini.value == pytest.approx(2 * auc.value - 1)
    bands = MetricPoint.objects.get(metric=checks.BAD_RATE).details["by_pd_band"]
    assert sum(b["n"] for b in bands) == len(approved)
    assert MetricPoint.objects.filter(metric=checks.CALIBRATION_RATIO).exists()


def test_it_records_a_missing_baseline_and_still_measures_the_rest(
    store: Callable[..., Any], with_baseline: Any, settings: Any
) -> None:
    settings.MLFLOW_TRACKING_URI = "sqlite:////nonexistent/dir/mlflow.db"
    store(live_cases(50, seed=10), END - DAY, END, model_version="99")
    run = monitoring_run(product=with_baseline, window="24h", end=END)
    assert any("no training baseline" in n for n in run.notes)
    assert MetricPoint.objects.filter(metric=checks.VOLUME).exists()
    assert not MetricPoint.objects.filter(metric=checks.FEATURE_PSI).exists()


def test_the_command_backfills_windows(store: Callable[..., Any], with_baseline: Any) -> None:
    now = timezone.now()
    _, end = aligned_window("24h", now=now)
    store(live_cases(120, seed=12), end - 3 * DAY, end)
    call_command("run_monitoring", "--product", with_baseline.code, "--window", "24h", "--backfill", "3", verbosity=0)
    assert len(values(checks.FEATURE_PSI, "annual_income")) == 3
    assert MonitoringRun.objects.filter(status="done").count() == 3


def test_the_celery_task_runs_every_active_product(store: Callable[..., Any], with_baseline: Any) -> None:
    from monitoring.tasks import run_monitoring

    _, end = aligned_window("1h", now=timezone.now())
    store(live_cases(20, seed=13), end - dt.timedelta(hours=1), end)
    run_ids = run_monitoring.delay(window="1h").get()
    assert len(run_ids) == 1
    assert MonitoringRun.objects.get(pk=run_ids[0]).decisions == 20
