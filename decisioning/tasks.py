"""Decisioning background work. Tasks are adapters: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    name="decisioning.ruleset_simulate",
)
def ruleset_simulate(self, simulation_id: int) -> str:  # type: ignore[no-untyped-def]
    """Run a queued impact simulation (idempotent: a simulation already claimed is left alone)."""
    from decisioning.rules.services import simulation_run

    simulation = simulation_run(simulation_id=simulation_id)
    return "skipped" if simulation is None else simulation.status


# ---- batch rescoring (docs/batches.md): all on the `batches` queue (CELERY_TASK_ROUTES) ----------


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True,
             max_retries=3, name="decisioning.batch_plan")
def batch_plan(self, batch_id: int) -> int:  # type: ignore[no-untyped-def]
    """Plan a queued batch and dispatch its chunks (idempotent: only a queued batch is planned)."""
    from django.conf import settings

    from decisioning.batches.services import batch_plan as plan

    chunk_ids = plan(batch_id=batch_id) or []
    for chunk_id in chunk_ids:
        batch_chunk.delay(chunk_id)
    if chunk_ids and not settings.CELERY_TASK_ALWAYS_EAGER:
        batch_watch.apply_async((batch_id,), countdown=_lease())
    return len(chunk_ids)


def _lease() -> int:
    from decisioning.batches.services import lease_seconds

    return lease_seconds()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5,
             name="decisioning.batch_chunk")
def batch_chunk(self, chunk_id: int) -> str:  # type: ignore[no-untyped-def]
    """Decide and store one chunk. Late ack: a worker killed midway leaves the message to be
    redelivered, and the chunk's lease lets the redelivery (or the watchdog) claim it again."""
    from decisioning.batches.services import ChunkRetry, chunk_run

    try:
        return chunk_run(chunk_id=chunk_id)
    except (OperationalError, ChunkRetry) as e:
        raise self.retry(exc=e, countdown=min(60, 2 ** self.request.retries)) from e


@shared_task(acks_late=True, name="decisioning.batch_watch")
def batch_watch(batch_id: int) -> int:
    """While the batch runs, re-dispatch chunks whose worker went away (lease expired), then look
    again one lease later. Needs no beat: each running batch keeps its own watchdog."""
    from decisioning.batches.services import batch_reclaim, lease_seconds
    from decisioning.models import Batch

    stale = batch_reclaim(batch_id=batch_id)
    for chunk_id in stale:
        batch_chunk.delay(chunk_id)
    if Batch.objects.filter(pk=batch_id, status=Batch.Status.RUNNING).exists():
        batch_watch.apply_async((batch_id,), countdown=lease_seconds())
    return len(stale)
