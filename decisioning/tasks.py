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
