"""Monitoring writes: run the checks for a window and store them, raise / resolve alerts, notify,
acknowledge. Reads for pages live in `monitoring.selectors`.

A run is idempotent per (product, window length, window end): re-running replaces that window's
points, and alerts are de-duplicated per condition, so a retried Celery task or a manual re-run
after a beat run changes nothing it should not.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import Conflict, NotFound
from decisioning.models import Decision, LoanOutcome, Product
from modeling.features import SPECS
from monitoring import checks, conf
from monitoring.baseline import baseline_get
from monitoring.models import (
    SEVERITY_RANK,
    Alert,
    AlertNotification,
    AlertRule,
    MetricPoint,
    MonitoringRun,
    NotificationTarget,
    Severity,
)

logger = logging.getLogger(__name__)

_WINDOW_RE = re.compile(r"^(\d+)([mhd])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(label: str) -> dt.timedelta:
    """'15m', '1h', '24h', '7d' -> timedelta (at least 1 minute)."""
    match = _WINDOW_RE.match(label.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window must look like 15m, 1h, 24h or 7d, got {label!r}")
    return dt.timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


def aligned_window(label: str, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last *complete* window before `now`, aligned to multiples of its length since the
    Unix epoch (UTC), so every run of the same window length agrees on the boundaries."""
    length = parse_window(label)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    seconds = int(length.total_seconds())
    end = epoch + dt.timedelta(seconds=(int((now - epoch).total_seconds()) // seconds) * seconds)
    return end - length, end


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (PostgreSQL's jsonb refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# ---- the run ----------------------------------------------------------------------------------


def _outcome_counts(product: Product, start: dt.datetime, end: dt.datetime, version: str | None) -> dict[str, int]:
    qs = Decision.objects.filter(product=product, created_at__gte=start, created_at__lt=end)
    if version is not None:
        qs = qs.filter(model_version=version)
    return {row["outcome"]: row["n"] for row in qs.values("outcome").annotate(n=Count("id")).order_by()}


def _trailing(product: Product, start: dt.datetime, length: dt.timedelta, version: str | None) -> list[dict[str, int]]:
    """Outcome counts of each of the trailing windows before `start` (most recent first)."""
    return [
        _outcome_counts(product, start - (i + 1) * length, start - i * length, version)
        for i in range(conf.trailing_windows())
    ]


def _matrix(rows: list[dict[str, Any]], names: list[str]) -> np.ndarray:
    X = np.full((len(rows), len(names)), np.nan, dtype=np.float64)
    for i, values in enumerate(rows):
        for j, name in enumerate(names):
            v = values.get(name)
            if v is not None:
                X[i, j] = float(v)
    return X


def _override_measurements(product: Product, start: dt.datetime, end: dt.datetime) -> list[checks.Measurement]:
    from reviews.models import ReviewCase

    decided = ReviewCase.objects.filter(
        decision__product=product, status=ReviewCase.Status.DECIDED, decided_at__gte=start, decided_at__lt=end
    )
    agg = {row["is_override"]: row["n"] for row in decided.values("is_override").annotate(n=Count("id")).order_by()}
    n = sum(agg.values())
    if n == 0:
        return []
    return [checks.Measurement(checks.OVERRIDE_RATE, agg.get(True, 0) / n, "", {"overrides": agg.get(True, 0), "n": n})]


def _performance(product: Product, version: str, end: dt.datetime) -> list[checks.Measurement]:
    """Matured approved loans of this version: decided in the cohort that ended `maturity` days
    before the window end, with their latest reported status (bad = defaulted)."""
    cohort_end = end - dt.timedelta(days=conf.maturity_days())
    cohort_start = cohort_end - dt.timedelta(days=conf.cohort_days())
    decisions = dict(
        Decision.objects.filter(
            product=product, model_version=version, outcome=Decision.OutcomeChoice.APPROVE,
            created_at__gte=cohort_start, created_at__lt=cohort_end, pd__isnull=False,
        ).values_list("id", "pd")
    )
    if not decisions:
        return []
    latest: dict[Any, str] = {}
    for decision_id, status in (
        LoanOutcome.objects.filter(decision_id__in=list(decisions), as_of__lte=end.date())
        .order_by("decision_id", "as_of", "reported_at", "id")
        .values_list("decision_id", "status")
    ):
        latest[decision_id] = status  # ordered ascending: the last one wins
    if not latest:
        return []
    ids = list(latest)
    pd = np.array([decisions[i] for i in ids], dtype=np.float64)
    bad = np.array([latest[i] == LoanOutcome.Status.DEFAULTED for i in ids])
    out = checks.performance_checks(pd, bad, conf.pd_bands())
    extra = {
        "cohort_start": cohort_start.isoformat(), "cohort_end": cohort_end.isoformat(),
        "approved_in_cohort": len(decisions), "without_outcome": len(decisions) - len(ids),
    }
    return [checks.Measurement(m.metric, m.value, m.feature, {**m.details, **extra}) for m in out]


def measure(
    *, product: Product, start: dt.datetime, end: dt.datetime, window: str, notes: list[str]
) -> tuple[int, list[tuple[str, checks.Measurement]]]:
    """All measurements of one product's window: (decision count, [(model_version, measurement)])."""
    length = end - start
    out: list[tuple[str, checks.Measurement]] = []
    window_qs = Decision.objects.filter(product=product, created_at__gte=start, created_at__lt=end)
    count = window_qs.count()
    trailing_counts = [sum(t.values()) for t in _trailing(product, start, length, None)]
    # A product with no history yet has no trailing baseline: compare only with windows that exist.
    first = Decision.objects.filter(product=product).order_by("created_at").values_list("created_at", flat=True).first()
    if first is not None:
        full = max(0, int((start - first) // length))
        trailing_counts = trailing_counts[:full]
    out += [("", m) for m in checks.volume_checks(count, trailing_counts)]
    out += [("", m) for m in _override_measurements(product, start, end)]

    rows = list(
        window_qs.order_by("-created_at").values("model_version", "outcome", "pd", "latency_ms", "features")[: conf.max_rows()]
    )
    if count > len(rows):
        notes.append(f"{count} decisions in the window; the {len(rows)} most recent were analysed.")
    if rows:
        latency = np.array([r["latency_ms"] for r in rows], dtype=np.float64)
        out += [("", m) for m in checks.latency_checks(latency, slo_p95_ms=conf.slo_p95_ms(), slo_p99_ms=conf.slo_p99_ms())]

    by_version: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_version[r["model_version"]].append(r)
    for version, vrows in sorted(by_version.items()):
        counts = _outcome_counts(product, start, end, version)
        out += [(version, m) for m in checks.outcome_rate_checks(counts, [t for t in _trailing(product, start, length, version) if t])]
        if not version:
            notes.append(f"{len(vrows)} decisions made without a model (no drift checks).")
            continue
        profile = baseline_get(product=product, model_version=version)
        if profile is None:
            notes.append(f"model version {version}: no training baseline available; drift not measured.")
        else:
            names = list(profile["features"])
            X = _matrix([(r["features"] or {}).get("values", {}) for r in vrows], names)
            out += [(version, m) for m in checks.feature_checks(profile, X, names, SPECS)]
            pd = np.array([np.nan if r["pd"] is None else r["pd"] for r in vrows], dtype=np.float64)
            out += [(version, m) for m in checks.score_checks(profile, pd)]
    cohort_end = end - dt.timedelta(days=conf.maturity_days())
    versions = set(
        Decision.objects.filter(
            product=product, outcome=Decision.OutcomeChoice.APPROVE,
            created_at__gte=cohort_end - dt.timedelta(days=conf.cohort_days()), created_at__lt=cohort_end,
        ).exclude(model_version="").values_list("model_version", flat=True).distinct()
    )
    for version in sorted(v for v in versions if v):
        out += [(version, m) for m in _performance(product, version, end)]
    return count, out


def monitoring_run(
    *, product: Product, window: str, end: dt.datetime | None = None, now: dt.datetime | None = None
) -> MonitoringRun:
    """Measure one product over one window, store the points, evaluate the alert rules.

    `end` (exclusive) defaults to the end of the last complete aligned window before `now`.
    """
    now = now or timezone.now()
    length = parse_window(window)
    if end is None:
        start, end = aligned_window(window, now=now)
    else:
        start = end - length
    run = MonitoringRun.objects.create(
        product=product, window=window, window_start=start, window_end=end, started_at=now
    )
    notes: list[str] = []
    try:
        count, measurements = measure(product=product, start=start, end=end, window=window, notes=notes)
        with transaction.atomic():
            MetricPoint.objects.filter(product=product, window=window, window_end=end).delete()
            points = MetricPoint.objects.bulk_create(
                [
                    MetricPoint(
                        product=product, model_version=version, metric=m.metric, feature=m.feature,
                        window=window, window_start=start, window_end=end,
                        value=_clean(m.value), details=_clean(m.details), computed_at=now,
                    )
                    for version, m in measurements
                ]
            )
            opened = alerts_evaluate(product=product, window=window, points=points, now=now)
            MonitoringRun.objects.filter(pk=run.pk).update(
                status=MonitoringRun.Status.DONE, decisions=count, points=len(points),
                alerts_opened=opened, notes=notes, finished_at=timezone.now(),
            )
    except Exception as e:
        MonitoringRun.objects.filter(pk=run.pk).update(
            status=MonitoringRun.Status.FAILED, error=f"{type(e).__name__}: {e}"[:2000],
            notes=notes, finished_at=timezone.now(),
        )
        raise
    run.refresh_from_db()
    return run


# ---- alerts -----------------------------------------------------------------------------------


def _breaches(rule: AlertRule, value: float | None) -> bool:
    from monitoring.defaults import breaches

    return breaches(rule.operator, rule.threshold, value)


def alert_key(*, product: Product, model_version: str, metric: str, feature: str, window: str) -> str:
    return f"{product.code}|{model_version}|{metric}|{feature}|{window}"


def _message(rule: AlertRule, point: MetricPoint) -> str:
    label = checks.METRIC_LABELS.get(point.metric, point.metric)
    where = f" of {point.feature}" if point.feature else ""
    version = f" (model v{point.model_version})" if point.model_version else ""
    value = "—" if point.value is None else f"{point.value:.4g}"
    op = {"gte": "≥", "lte": "≤", "abs_gte": "|·| ≥"}[rule.operator]
    return f"{label}{where}{version} is {value} ({op} {rule.threshold:g}) over {point.window} to {point.window_end:%Y-%m-%d %H:%M} UTC"[:300]


def alerts_evaluate(*, product: Product, window: str, points: Iterable[MetricPoint], now: dt.datetime) -> int:
    """Raise, update or resolve alerts for this window's points; return how many were opened.

    Per condition (product, version, metric, feature, window length) the most severe breached
    rule wins. A live alert is updated, not duplicated, and notified again only when it escalates.
    A condition that clears resolves its alert; one that returns within the rule's cool-down
    reopens that alert without a new notification.
    """
    rules = [
        r for r in AlertRule.objects.filter(is_active=True).select_related("product")
        if r.product_id is None or r.product_id == product.pk
    ]
    evaluated: set[str] = set()
    fired: dict[str, tuple[AlertRule, MetricPoint]] = {}
    for point in points:
        key = alert_key(product=product, model_version=point.model_version, metric=point.metric,
                        feature=point.feature, window=window)
        for rule in rules:
            if rule.metric != point.metric or (rule.feature and rule.feature != point.feature):
                continue
            evaluated.add(key)
            n = point.details.get("n") if isinstance(point.details, dict) else None
            if isinstance(n, (int, float)) and n < rule.min_count:
                continue
            if not _breaches(rule, point.value):
                continue
            best = fired.get(key)
            if best is None or SEVERITY_RANK[Severity(rule.severity)] > SEVERITY_RANK[Severity(best[0].severity)]:
                fired[key] = (rule, point)
    opened = 0
    for key, (rule, point) in fired.items():
        opened += _alert_raise(key=key, rule=rule, point=point, product=product, now=now)
    stale = Alert.objects.filter(key__in=evaluated - set(fired)).exclude(status=Alert.Status.RESOLVED)
    stale.update(status=Alert.Status.RESOLVED, resolved_at=now)
    return opened


def _alert_raise(*, key: str, rule: AlertRule, point: MetricPoint, product: Product, now: dt.datetime) -> int:
    fields = {
        "rule": rule, "severity": rule.severity, "value": point.value, "threshold": rule.threshold,
        "message": _message(rule, point), "window_start": point.window_start,
        "window_end": point.window_end, "last_seen_at": now,
    }
    live = Alert.objects.select_for_update().filter(key=key).exclude(status=Alert.Status.RESOLVED).first()
    if live is not None:
        escalated = SEVERITY_RANK[Severity(rule.severity)] > SEVERITY_RANK[Severity(live.severity)]
        for name, value in fields.items():
            if name in ("rule", "severity", "threshold") and not escalated:
                continue  # a lesser rule also breaching does not downgrade the alert
            setattr(live, name, value)
        if not escalated:
            live.message = _message(live.rule, point)
        live.occurrences += 1
        if escalated:
            live.status = Alert.Status.OPEN  # more severe than what was acknowledged
            live.last_notified_at = now
        live.save()
        if escalated:
            _notify(live, event="escalated", now=now)
        return 0
    recent = (
        Alert.objects.select_for_update().filter(
            key=key, status=Alert.Status.RESOLVED, resolved_at__gte=now - dt.timedelta(minutes=rule.cooldown_minutes)
        ).order_by("-resolved_at").first()
    )
    if recent is not None:  # cool-down: the same condition flapping back is not news
        for name, value in fields.items():
            setattr(recent, name, value)
        recent.status, recent.resolved_at = Alert.Status.OPEN, None
        recent.occurrences += 1
        recent.save()
        return 0
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=key, product=product, model_version=point.model_version, metric=point.metric,
                feature=point.feature, window=point.window, first_seen_at=now, last_notified_at=now, **fields,
            )
    except IntegrityError:  # another run raised it a moment ago: treat as an update
        return _alert_raise(key=key, rule=rule, point=point, product=product, now=now)
    _notify(alert, event="opened", now=now)
    return 1


def alert_payload(alert: Alert, *, event: str) -> dict[str, Any]:
    from django.conf import settings

    return {
        "event": f"monitoring.alert.{event}",
        "alert_id": str(alert.pk),
        "severity": alert.severity,
        "status": alert.status,
        "product": alert.product.code,
        "model_version": alert.model_version,
        "metric": alert.metric,
        "feature": alert.feature,
        "window": alert.window,
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "value": alert.value,
        "threshold": alert.threshold,
        "rule": alert.rule.name,
        "message": alert.message,
        "url": f"{settings.SITE_URL}/monitoring/?product={alert.product.code}",
    }


def _notify(alert: Alert, *, event: str, now: dt.datetime) -> None:
    """Outbox rows for every target that wants this severity; sent by Celery after commit."""
    from monitoring.tasks import deliver_alert_notification

    rank = SEVERITY_RANK[Severity(alert.severity)]
    for target in NotificationTarget.objects.filter(is_active=True):
        if SEVERITY_RANK[Severity(target.min_severity)] > rank:
            continue
        note = AlertNotification.objects.create(
            alert=alert, target=target, event=event, payload=_clean(alert_payload(alert, event=event)), created_at=now
        )
        transaction.on_commit(lambda pk=str(note.pk): deliver_alert_notification.delay(pk))


def alert_acknowledge(*, alert_id: Any, actor: Any, note: str = "", now: dt.datetime | None = None) -> Alert:
    """A named user takes ownership of an open alert; audited in the same transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise NotFound()
        if alert.status != Alert.Status.OPEN:
            raise Conflict(f"This alert is {alert.get_status_display().lower()}.", code="not_open")
        alert.status = Alert.Status.ACKNOWLEDGED
        alert.acknowledged_by, alert.acknowledged_at, alert.acknowledge_note = actor, now, note.strip()[:2000]
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledge_note"])
        audit_record(
            actor=Actor.for_user(actor),
            event_type="monitoring.alert_acknowledged",
            subject_type="monitoring_alert",
            subject_id=str(alert.pk),
            payload={
                "product": alert.product.code, "metric": alert.metric, "feature": alert.feature,
                "model_version": alert.model_version, "severity": alert.severity,
                "value": _clean(alert.value), "note": alert.acknowledge_note,
            },
            occurred_at=now,
        )
    return alert
