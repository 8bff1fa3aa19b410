"""Decisioning background work. Tasks are adapters: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
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
    from decisioning.batches.services import ChunkRetry, batch_reclaim, chunk_run, lower_priority

    if not self.request.is_eager:
        lower_priority()  # a batch worker yields the CPU to live decisions (docs/batches.md)
    try:
        status = chunk_run(chunk_id=chunk_id)
    except (OperationalError, ChunkRetry) as e:
        raise self.retry(exc=e, countdown=min(60, 2 ** self.request.retries)) from e
    # Chunks of this batch whose worker died (lease expired) go back on the queue now, not only
    # at the watchdog's next look: the watchdog's own message may have died with that worker.
    for stale in batch_reclaim(chunk_id=chunk_id):
        batch_chunk.delay(stale)
    return status


@worker_ready.connect
def _rearm_batch_watchdogs(**kwargs: object) -> None:
    """A (re)started worker gives every running batch a watchdog: a batch whose only watchdog
    message was held by a killed worker would otherwise wait for Redis's visibility timeout."""
    from django.conf import settings

    from decisioning.models import Batch

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    for batch_id in Batch.objects.filter(status=Batch.Status.RUNNING).values_list("pk", flat=True):
        batch_watch.apply_async((batch_id,), countdown=0)


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
