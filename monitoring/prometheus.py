"""Prometheus exposition of Verdict's state, read from the database at scrape time.

Why read the database rather than count in-process: web workers are many and short-lived
(gunicorn), so process-local counters would each see a slice and reset on restart. Decisions are
append-only rows, so `COUNT(*)` per product and outcome *is* a monotonic counter, and every
worker answers the same. The latency histogram covers the decisions of the last
`LATENCY_LOOKBACK` (a gauge histogram: the current distribution, not a cumulative one).

`prometheus_client` (pinned in requirements.txt) writes the text format: escaping, the
`_bucket`/`_gsum`/`_gcount` conventions and content negotiation are its job, not ours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

LATENCY_LOOKBACK = dt.timedelta(minutes=15)
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 200, 300, 500, 1000, 2500)


class VerdictCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        from decisioning.models import Decision, Product
        from monitoring.models import Alert, MetricPoint
        from reviews.models import ReviewCase

        decisions = CounterMetricFamily(
            "verdict_decisions", "Decisions stored, by product and outcome (rows are append-only).",
            labels=["product", "outcome"],
        )
        for row in Decision.objects.values("product__code", "outcome").annotate(n=Count("id")).order_by():
            decisions.add_metric([row["product__code"], row["outcome"]], row["n"])
        yield decisions

        since = timezone.now() - LATENCY_LOOKBACK
        aggregates = {f"le_{b}": Count("id", filter=Q(latency_ms__lte=b)) for b in LATENCY_BUCKETS_MS}
        hist = GaugeHistogramMetricFamily(
            "verdict_decision_latency_seconds",
            f"Decision latency of the last {int(LATENCY_LOOKBACK.total_seconds() // 60)} minutes.",
            labels=["product"],
        )
        for row in (
            Decision.objects.filter(created_at__gte=since).values("product__code")
            .annotate(n=Count("id"), total=Sum("latency_ms"), **aggregates).order_by()
        ):
            buckets = [(str(b / 1000), row[f"le_{b}"]) for b in LATENCY_BUCKETS_MS] + [("+Inf", row["n"])]
            hist.add_metric([row["product__code"]], buckets, gsum_value=(row["total"] or 0.0) / 1000)
        yield hist

        info = GaugeMetricFamily(
            "verdict_model_info", "The model version of each product's most recent decision (1).",
            labels=["product", "model_name", "model_version"],
        )
        for product in Product.objects.order_by("code"):
            latest = (
                Decision.objects.filter(product=product).exclude(model_version="").order_by("-created_at")
                .values_list("model_name", "model_version").first()
            )
            if latest is not None:
                info.add_metric([product.code, latest[0], latest[1]], 1)
        yield info

        queue = GaugeMetricFamily(
            "verdict_review_queue_depth", "Review cases not yet decided, by product and status.",
            labels=["product", "status"],
        )
        for row in (
            ReviewCase.objects.exclude(status=ReviewCase.Status.DECIDED)
            .values("decision__product__code", "status").annotate(n=Count("id")).order_by()
        ):
            queue.add_metric([row["decision__product__code"], row["status"]], row["n"])
        yield queue

        alerts = GaugeMetricFamily(
            "verdict_monitoring_alerts", "Unresolved monitoring alerts, by product, severity and status.",
            labels=["product", "severity", "status"],
        )
        for row in (
            Alert.objects.exclude(status=Alert.Status.RESOLVED)
            .values("product__code", "severity", "status").annotate(n=Count("id")).order_by()
        ):
            alerts.add_metric([row["product__code"], row["severity"], row["status"]], row["n"])
        yield alerts

        last = GaugeMetricFamily(
            "verdict_monitoring_last_window_end_timestamp_seconds",
            "End of the latest monitored window, by product and window length.",
            labels=["product", "window"],
        )
        for row in MetricPoint.objects.values("product__code", "window").annotate(end=Max("window_end")).order_by():
            last.add_metric([row["product__code"], row["window"]], row["end"].timestamp())
        yield last


def render_metrics() -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VerdictCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
