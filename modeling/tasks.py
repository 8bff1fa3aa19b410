"""Modelling background work. Tasks are adapters: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    name="modeling.shadow_score",
)
def shadow_score(self, decision_id: str) -> int:  # type: ignore[no-untyped-def]
    """Score a committed decision with its product's challengers (idempotent: one row per
    decision and version, so a retry or a duplicate delivery stores nothing twice)."""
    from modeling.services import shadow_score_decision

    return len(shadow_score_decision(decision_id=decision_id))


@shared_task(name="modeling.shadow_backfill")
def shadow_backfill(product_code: str, version: str) -> int:
    """Score decisions a challenger missed in its window (schedule it with beat, e.g. hourly)."""
    from decisioning.models import Product
    from modeling.services import shadow_backfill as backfill

    product = Product.objects.filter(code=product_code).first()
    return backfill(product=product, version=version) if product else 0


@shared_task(name="modeling.shadow_backfill_open")
def shadow_backfill_open() -> int:
    """Beat (CELERY_BEAT_SCHEDULE): score, for every open challenger, the decisions whose shadow
    task never ran — not queued because the broker was down at commit (`shadow_schedule` logs and
    lets the decision stand), or lost with a broker that restarted empty or a worker that died.
    Idempotent: one row per decision and version (tests/faults/test_redis_down.py)."""
    from modeling.models import ModelAssignment
    from modeling.services import shadow_backfill as backfill

    open_challengers = ModelAssignment.objects.filter(
        role=ModelAssignment.Role.CHALLENGER, ended_at__isnull=True
    ).select_related("product")
    return sum(backfill(product=a.product, version=a.model_version) for a in open_challengers)
