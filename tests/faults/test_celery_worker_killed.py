"""A Celery worker killed mid-task: the task runs again (late acknowledgement, reject on worker
lost) with no duplicate effect; a task enqueued in a transaction that rolls back never runs.

Real processes: a private redis-server as the broker, `celery worker` (prefork) as a subprocess,
and the final-outcome webhook as the task — its receiver holds the first POST open, so the test
knows the task is mid-flight when it kills the worker.

Webhook delivery is at least once by nature (a worker can die after the receiver acted but
before it heard back); the effect is exactly once because every attempt carries the same
`X-Verdict-Delivery` id and body for the receiver to deduplicate on, and the delivery row is
marked delivered once. docs/reliability.md says so to integrators.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from reviews.models import ReviewCase, WebhookDelivery
from tests.faults.conftest import decide_case
from tests.faults.support import (
    CeleryWorker,
    HoldingReceiver,
    RedisServer,
    database_url_for,
    kill_group,
    service_env,
    use_broker,
    wait_until,
)

VISIBILITY_TIMEOUT_S = 3


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[RedisServer]:
    use_broker(redis_server.url())
    try:
        yield redis_server
    finally:
        use_broker(None)


@pytest.fixture
def worker_factory(redis_server: RedisServer, scorer_file: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[CeleryWorker] = []
    env = service_env(
        database_url=database_url_for(connection.settings_dict),
        redis_url=redis_server.url(),
        scorer_file=scorer_file,
        var_dir=tmp_path,
        FAULTS_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_S),
    )

    def start() -> CeleryWorker:
        worker = CeleryWorker(env, log=tmp_path / f"worker-{len(started) + 1}.log").start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()


def assert_delivered_once(
    receiver: HoldingReceiver, delivery: WebhookDelivery, *, posts: int
) -> None:
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED, (
        delivery.status,
        delivery.last_error,
    )
    assert WebhookDelivery.objects.filter(case=delivery.case).count() == 1
    assert delivery.attempts == posts
    assert len(receiver.requests) == posts
    assert set(receiver.delivery_ids()) == {
        str(delivery.pk)
    }  # one effect for a deduplicating receiver
    assert len({r["body"] for r in receiver.requests}) == 1
    assert json.loads(receiver.requests[0]["body"])["final_outcome"] == "approve"


@pytest.mark.parametrize("kill", ["pool-child", "whole-worker"])
def test_a_task_of_a_killed_worker_runs_again_without_a_duplicate_effect(
    kill: str,
    referred: dict[str, Any],
    receiver: HoldingReceiver,
    broker: RedisServer,
    worker_factory: Any,
) -> None:
    worker = worker_factory()
    receiver.hold.set()
    case = decide_case(referred, reference="HOOK-KILL")
    delivery = WebhookDelivery.objects.get(case=case)
    wait_until(
        lambda: len(receiver.requests) == 1, timeout=40, what="the webhook POST (task mid-flight)"
    )

    if kill == "pool-child":
        # The OOM killer's victim: the process running the task, not the worker's main process.
        children = worker.pool_children()
        assert len(children) == 1, children
        import os

        os.kill(children[0], signal.SIGKILL)
        receiver.release()
        # The main process sees the child die and requeues the message (reject_on_worker_lost).
    else:
        assert worker.process is not None
        kill_group(worker.process, signal.SIGKILL)  # the whole host gone: nobody acks or rejects
        worker.process = None
        receiver.release()
        # Redis keeps the unacknowledged message; a worker restores it after the visibility timeout.
        worker_factory()

    wait_until(
        lambda: (
            WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED
        ),
        timeout=40,
        interval=0.1,
        what="the redelivered task",
    )
    assert_delivered_once(receiver, delivery, posts=2)
    # Nothing left in the broker: no third run is pending.
    redis = broker.client()
    assert redis.llen("celery") == 0
    assert redis.hlen("unacked") == 0


def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs(
    referred: dict[str, Any],
    receiver: HoldingReceiver,
    broker: RedisServer,
    worker_factory: Any,
) -> None:
    worker_factory()

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), transaction.atomic():
        rolled_back = decide_case(referred, reference="HOOK-ROLLBACK")
        assert WebhookDelivery.objects.filter(case=rolled_back).exists()  # queued on commit only
        raise Abandon
    assert broker.client().llen("celery") == 0  # nothing was published

    committed = decide_case(referred, reference="HOOK-COMMIT")
    delivery = WebhookDelivery.objects.get(case=committed)
    # The worker takes messages in order: once this one is done, an earlier one would have run.
    wait_until(
        lambda: (
            WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED
        ),
        timeout=40,
        interval=0.1,
        what="the committed task",
    )
    assert receiver.delivery_ids() == [str(delivery.pk)]
    assert not WebhookDelivery.objects.filter(
        case__decision__application__reference="HOOK-ROLLBACK"
    ).exists()
    assert not ReviewCase.objects.filter(
        decision__application__reference="HOOK-ROLLBACK", status=ReviewCase.Status.DECIDED
    ).exists()
