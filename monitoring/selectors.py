"""Monitoring reads for the dashboard and /metrics. Pages call these; templates run no queries."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from config.errors import NotFound
from decisioning.models import Product
from monitoring import checks
from monitoring.models import SEVERITY_RANK, Alert, MetricPoint, Severity
from monitoring.services import parse_window

HISTORY_POINTS = 30


@dataclass
class FeatureRow:
    feature: str
    kind: str
    psi: float | None
    band: str
    test_label: str
    test_value: float | None
    test_p: float | None
    missing_rate: float | None
    out_of_range_rate: float | None
    alerting: bool = False


@dataclass
class Dashboard:
    product: Product
    products: list[Product]
    window: str
    model_version: str
    latest_end: dt.datetime | None
    series: dict[str, list[tuple[str, list[tuple[float, float]]]]] = field(default_factory=dict)
    features: list[FeatureRow] = field(default_factory=list)
    open_alerts: list[Alert] = field(default_factory=list)
    acknowledged_alerts: list[Alert] = field(default_factory=list)
    latest: dict[str, MetricPoint] = field(default_factory=dict)


def product_for(code: str | None) -> tuple[Product, list[Product]]:
    products = list(Product.objects.order_by("code"))
    if not products:
        raise NotFound()
    if code is None:
        return products[0], products
    for p in products:
        if p.code == code:
            return p, products
    raise NotFound()


def _x(end: dt.datetime, latest: dt.datetime) -> float:
    """Days before the latest window end (0 = latest), the x axis of every time-series chart."""
    return round((end - latest).total_seconds() / 86400.0, 4)


def _points(product: Product, window: str) -> tuple[list[MetricPoint], dt.datetime | None]:
    latest = (
        MetricPoint.objects.filter(product=product, window=window)
        .order_by("-window_end").values_list("window_end", flat=True).first()
    )
    if latest is None:
        return [], None
    since = latest - parse_window(window) * HISTORY_POINTS
    points = list(
        MetricPoint.objects.filter(product=product, window=window, window_end__gt=since).order_by("window_end")
    )
    return points, latest


def dashboard(*, product_code: str | None, window: str) -> Dashboard:
    product, products = product_for(product_code)
    points, latest = _points(product, window)
    latest_version = next(
        (p.model_version for p in reversed(points) if p.model_version and p.metric == checks.FEATURE_PSI), ""
    )
    d = Dashboard(product=product, products=products, window=window, model_version=latest_version, latest_end=latest)
    alerts = list(
        Alert.objects.filter(product=product).exclude(status=Alert.Status.RESOLVED)
        .select_related("acknowledged_by", "rule", "product").order_by("-last_seen_at")
    )
    alerts.sort(key=lambda a: -SEVERITY_RANK[Severity(a.severity)])  # stable: recent first within a severity
    d.open_alerts = [a for a in alerts if a.status == Alert.Status.OPEN]
    d.acknowledged_alerts = [a for a in alerts if a.status == Alert.Status.ACKNOWLEDGED]
    if latest is None:
        return d

    def keep(p: MetricPoint) -> bool:
        return p.model_version in ("", latest_version)

    by_metric: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for p in points:
        if keep(p) and p.value is not None:
            by_metric[(p.metric, p.feature)].append((_x(p.window_end, latest), p.value))
        if p.window_end == latest and keep(p):
            d.latest[f"{p.metric}|{p.feature}"] = p

    def s(metric: str, feature: str = "", label: str | None = None) -> tuple[str, list[tuple[float, float]]]:
        return (label or checks.METRIC_LABELS.get(metric, metric), by_metric.get((metric, feature), []))

    # The features that moved most in the latest window get a line each.
    latest_psi = sorted(
        ((p.value or 0.0, p.feature) for k, p in d.latest.items() if k.startswith(checks.FEATURE_PSI + "|")),
        reverse=True,
    )
    top = [f for _, f in latest_psi[:4]]
    xs = [x for pts in by_metric.values() for x, _ in pts] or [0.0]
    span = (min(xs), max(xs))
    d.series = {
        "feature_psi": [s(checks.FEATURE_PSI, f, f) for f in top]
        + [("0.1 band", [(span[0], 0.1), (span[1], 0.1)]), ("0.25 band", [(span[0], 0.25), (span[1], 0.25)])],
        "score": [s(checks.SCORE_PSI), ("0.1 band", [(span[0], 0.1), (span[1], 0.1)])],
        "outcomes": [s(checks.APPROVE_RATE), s(checks.REFER_RATE), s(checks.DECLINE_RATE)],
        "volume": [s(checks.VOLUME)],
        "latency": [s(checks.LATENCY_P50, label="P50"), s(checks.LATENCY_P95, label="P95"), s(checks.LATENCY_P99, label="P99"), *_slo_lines(d.latest, span)],
        "overrides": [s(checks.OVERRIDE_RATE)],
        "quality": [
            (f"missing {f}", pts) for (m, f), pts in by_metric.items() if m == checks.MISSING_RATE and any(y > 0 for _, y in pts)
        ][:4]
        + [(f"out of range {f}", pts) for (m, f), pts in by_metric.items() if m == checks.OUT_OF_RANGE_RATE and any(y > 0 for _, y in pts)][:3],
        "performance": [s(checks.AUC), s(checks.GINI), s(checks.CALIBRATION_RATIO)],
    }
    alerting = {a.feature for a in alerts if a.feature}
    rows = []
    for key, p in d.latest.items():
        if not key.startswith(checks.FEATURE_PSI + "|"):
            continue
        f = p.feature
        kind = p.details.get("kind", "numeric")
        if kind == "categorical":
            t = d.latest.get(f"{checks.FEATURE_CHI2_P}|{f}")
            label, tv, tp = "χ² p", (t.value if t else None), (t.value if t else None)
        else:
            t = d.latest.get(f"{checks.FEATURE_KS}|{f}")
            label, tv, tp = "KS D", (t.value if t else None), (t.details.get("p_value") if t else None)
        miss = d.latest.get(f"{checks.MISSING_RATE}|{f}")
        oor = d.latest.get(f"{checks.OUT_OF_RANGE_RATE}|{f}")
        rows.append(
            FeatureRow(
                feature=f, kind=kind, psi=p.value, band=p.details.get("band", ""), test_label=label,
                test_value=tv, test_p=tp, missing_rate=miss.value if miss else None,
                out_of_range_rate=oor.value if oor else None, alerting=f in alerting,
            )
        )
    d.features = sorted(rows, key=lambda r: -(r.psi or 0.0))
    return d


def _slo_lines(latest: dict[str, MetricPoint], span: tuple[float, float]) -> list[tuple[str, list[tuple[float, float]]]]:
    out = []
    for metric, label in ((checks.LATENCY_P95, "P95 SLO"), (checks.LATENCY_P99, "P99 SLO")):
        p = latest.get(f"{metric}|")
        if p is not None and p.details.get("slo_ms") is not None:
            out.append((label, [(span[0], float(p.details["slo_ms"])), (span[1], float(p.details["slo_ms"]))]))
    return out


@dataclass
class FeatureDetail:
    product: Product
    feature: str
    window: str
    model_version: str
    point: MetricPoint | None
    bins: list[dict[str, Any]]
    psi_series: list[tuple[float, float]]
    test_series: list[tuple[float, float]]
    test_label: str
    quality: dict[str, MetricPoint]
    alerts: list[Alert]


def _bin_labels(edges: list[float], kind: str) -> list[str]:
    if kind == "categorical":
        codes = [e - 0.5 for e in edges]
        return [f"code {c:g}" for c in codes] + ([f"code > {edges[-1]:g}"] if edges else ["all"])
    if not edges:
        return ["all"]
    labels = [f"≤ {edges[0]:.4g}"]
    labels += [f"{lo:.4g} - {hi:.4g}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"> {edges[-1]:.4g}")
    return labels


def feature_detail(*, product_code: str, feature: str, window: str, model_version: str | None = None) -> FeatureDetail:
    import math

    product, _ = product_for(product_code)
    qs = MetricPoint.objects.filter(product=product, window=window, feature=feature)
    if model_version:
        qs = qs.filter(model_version=model_version)
    psi_points = list(qs.filter(metric=checks.FEATURE_PSI).order_by("window_end"))
    if not psi_points:
        raise NotFound()
    point = psi_points[-1]
    version = point.model_version
    psi_points = [p for p in psi_points if p.model_version == version][-HISTORY_POINTS:]
    latest = point.window_end
    kind = point.details.get("kind", "numeric")
    test_metric = checks.FEATURE_CHI2_P if kind == "categorical" else checks.FEATURE_KS
    tests = list(qs.filter(metric=test_metric, model_version=version, window_end__gte=psi_points[0].window_end).order_by("window_end"))
    quality = {
        p.metric: p
        for p in qs.filter(model_version=version, window_end=latest,
                           metric__in=[checks.MISSING_RATE, checks.OUT_OF_RANGE_RATE, checks.UNSEEN_CATEGORY_RATE])
    }
    det = point.details
    labels = _bin_labels(det.get("edges", []), kind)
    bins = []
    b_present, c_present = 1 - (det.get("baseline_missing") or 0.0), 1 - (det.get("current_missing") or 0.0)
    rows = list(zip(labels, det.get("baseline", []), det.get("current", []), strict=False))
    rows.append(("missing", None, None))
    for i, (label, b, c) in enumerate(rows):
        if i == len(rows) - 1:
            eb, ec = det.get("baseline_missing") or 0.0, det.get("current_missing") or 0.0
        else:
            eb, ec = (b or 0.0) * b_present, (c or 0.0) * c_present
        e, a = max(eb, 1e-4), max(ec, 1e-4)
        bins.append({"label": label, "baseline": eb, "current": ec, "contribution": (a - e) * math.log(a / e)})
    alerts = list(
        Alert.objects.filter(product=product, feature=feature).exclude(status=Alert.Status.RESOLVED).select_related("acknowledged_by", "product")
    )
    return FeatureDetail(
        product=product, feature=feature, window=window, model_version=version, point=point, bins=bins,
        psi_series=[(_x(p.window_end, latest), p.value) for p in psi_points if p.value is not None],
        test_series=[(_x(p.window_end, latest), p.value) for p in tests if p.value is not None],
        test_label="Chi-square p-value" if kind == "categorical" else "KS statistic (at frozen edges)",
        quality=quality, alerts=alerts,
    )
