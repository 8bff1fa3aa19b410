"""Celery adapters: seal the chain every second, check the unsealed backlog every 30 s, run a
verification someone asked for."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from config.celery import app

SEAL_EVERY_SECONDS = 1.0
BACKLOG_CHECK_EVERY_SECONDS = 30.0


@shared_task(ignore_result=True)
def chain_seal_task() -> int:
    from audit.services import chain_seal

    return chain_seal(wait=False)


@shared_task(ignore_result=True, acks_late=True)
def chain_verify_task(run_id: int) -> None:
    from audit.verification import verification_execute

    verification_execute(run_id=run_id)


@shared_task(ignore_result=True)
def backlog_check_task() -> int:
    from audit.backlog import backlog_check

    return backlog_check()


@app.on_after_finalize.connect
def _schedule(sender: Any, **kwargs: Any) -> None:
    # Beat runs this every second; an idle tick costs one indexed query.
    sender.add_periodic_task(SEAL_EVERY_SECONDS, chain_seal_task.s(), name="audit: seal the chain")
    # A separate task, so that a sealer that is stuck or failing is still noticed.
    sender.add_periodic_task(
        BACKLOG_CHECK_EVERY_SECONDS, backlog_check_task.s(), name="audit: unsealed backlog alert"
    )
