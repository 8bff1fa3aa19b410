"""The unsealed-event backlog as a monitoring alert.

Events are written unsealed and chained by the sealer every second (`audit.services`). If the
sealer stops (beat down, a worker stuck) decisions keep being made but are not yet provable.
Every 30 s (`audit.tasks.backlog_check_task`) this measures, per product, how long its oldest
unsealed `decision.created` event has waited (`monitoring.checks.audit_backlog_checks`), stores
it as a monitoring point (window "1m") and lets the monitoring alert rules raise, escalate and
resolve alerts exactly as for drift or latency: the rules for `audit_unsealed_age_s` (15 s
warning, 2 min critical, seeded by `audit.0008`, editable in the admin) set N, and the alert is
notified to the monitoring targets. The audit page shows the whole chain's backlog, every event
type included.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import CharField, Count, Min
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from audit.models import AuditEvent
from decisioning.models import Product
from monitoring import checks
from monitoring.models import Alert, MetricPoint
from monitoring.services import alerts_evaluate

WINDOW = "1m"


def backlog_check(*, now: dt.datetime | None = None) -> int:
    """Measure the backlog and evaluate the alert rules; return how many alerts were opened.

    A product gets a point when it has unsealed decisions or a live backlog alert (so that the
    alert resolves once its decisions are sealed); otherwise nothing is written.
    """
    now = now or timezone.now()
    unsealed = AuditEvent.objects.filter(position__isnull=True)
    chain = unsealed.aggregate(n=Count("seq"), oldest=Min("occurred_at"))
    chain_age = None if chain["oldest"] is None else (now - chain["oldest"]).total_seconds()
    per_product = {
        row["code"]: (row["n"], row["oldest"])
        for row in unsealed.filter(event_type="decision.created")
        .values(code=KeyTextTransform("product", "payload", output_field=CharField()))
        .annotate(n=Count("seq"), oldest=Min("occurred_at"))
    }
    alerted = set(
        Alert.objects.filter(metric=checks.AUDIT_UNSEALED_AGE)
        .exclude(status=Alert.Status.RESOLVED)
        .values_list("product__code", flat=True)
    )
    opened = 0
    end = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for product in Product.objects.filter(code__in=set(per_product) | alerted):
        n, oldest = per_product.get(product.code, (0, None))
        [m] = checks.audit_backlog_checks(
            unsealed=n,
            oldest_age_s=None if oldest is None else (now - oldest).total_seconds(),
            chain_unsealed=chain["n"],
            chain_oldest_age_s=chain_age,
        )
        with transaction.atomic():
            MetricPoint.objects.filter(
                product=product, metric=m.metric, window=WINDOW, window_end=end
            ).delete()
            point = MetricPoint.objects.create(
                product=product,
                model_version="",
                metric=m.metric,
                feature="",
                window=WINDOW,
                window_start=end - dt.timedelta(minutes=1),
                window_end=end,
                value=m.value,
                details=m.details,
                computed_at=now,
            )
            opened += alerts_evaluate(product=product, window=WINDOW, points=[point], now=now)
    return opened

