"""Redis down (SIGKILL to a private redis-server that is both cache and broker): decisions go on
uncached and undegraded, /readyz says what is degraded, and the work queued after commit while
the broker was away is not lost — the outbox sweeps queue it again once Redis is back.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from decisioning.models import Decision
from decisioning.signals.stub import StubServer, provider_config
from modeling.models import ModelAssignment, ShadowScore
from reviews import tasks as review_tasks
from reviews.models import WebhookDelivery
from tests.conftest import application_body
from tests.faults.conftest import World, decide_case
from tests.faults.support import (
    ApiServer,
    CeleryWorker,
    HoldingReceiver,
    RedisServer,
    database_url_for,
    service_env,
    use_broker,
    wait_until,
    write_scorer,
)

CHALLENGER_VERSION = "2"


def ids(bodies: list[dict[str, Any]]) -> list[str]:
    return [b["id"] for b in bodies]


@pytest.fixture
def bureau() -> Iterator[StubServer]:
    stub = StubServer().start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def challenger(trained_scorer: Any, tmp_path: Path, world: World) -> Iterator[Path]:
    """An open challenger for the product while the test runs: every decision queues a shadow
    score after commit."""
    scorer = copy.copy(trained_scorer)
    scorer.model_version = CHALLENGER_VERSION
    assignment = ModelAssignment.objects.create(
        product=world.product,
        role=ModelAssignment.Role.CHALLENGER,
        model_name=scorer.model_name,
        model_version=CHALLENGER_VERSION,
        started_at=timezone.now(),  # the window holds this test's decisions only
    )
    try:
        yield write_scorer(scorer, tmp_path / "challenger.pickle")
    finally:
        ModelAssignment.objects.filter(pk=assignment.pk).update(ended_at=timezone.now())


def test_decisions_go_on_without_redis_and_the_queued_work_is_not_lost(
    world: World,
    challenger: Path,
    scorer_file: Path,
    redis_server: RedisServer,
    bureau: StubServer,
    tmp_path: Path,
    servers: list[ApiServer],
) -> None:
    token = world.token
    # The bureau through the signal cache (Redis), so that "no cache" is on the decision's path.
    providers = tmp_path / "providers.json"
    providers.write_text(
        json.dumps(
            provider_config(
                bureau.base_url,
                {"bureau": "ok"},
                bureau={"cache_ttl_seconds": 3600, "timeout_ms": 2000},
            )
        )
    )
    env = service_env(
        database_url=database_url_for(connection.settings_dict),
        redis_url=redis_server.url(),
        scorer_file=scorer_file,
        var_dir=tmp_path,
        SIGNAL_PROVIDERS_FILE=str(providers),
        FAULTS_CHALLENGER_FILE=str(challenger),
    )
    server = ApiServer(env, log=tmp_path / "gunicorn.log").start()
    servers.append(server)
    worker = CeleryWorker(env, log=tmp_path / "worker.log").start()
    try:
        times: list[float] = []

        def decide(n: int, applicant: int | None = None) -> dict[str, Any]:
            name = f"Red{n if applicant is None else applicant}"
            started = time.monotonic()
            status, _, body = server.decide(
                token, application_body(reference=f"R-{n}", first_name=name), key=f"redis-{n}"
            )
            times.append(time.monotonic() - started)
            assert status == 201, body
            assert body["degraded"] is False, body
            return body

        before = [decide(0), decide(1)]
        hits = bureau.hits["/bureau/ok"]
        before.append(decide(2, applicant=0))  # the same applicant again: from the cache
        cached_hits = bureau.hits["/bureau/ok"] - hits
        wait_until(
            lambda: ShadowScore.objects.filter(decision_id__in=ids(before)).count() == 3,
            timeout=40,
            interval=0.1,
            what="shadow scores with Redis up",
        )

        redis_server.kill()  # SIGKILL: cache and broker gone, nothing saved (no persistence)
        times.clear()
        hits = bureau.hits["/bureau/ok"]
        during = [decide(3, applicant=0), decide(4), decide(5), decide(6)]
        uncached_hits = bureau.hits["/bureau/ok"] - hits
        during_times = list(times)
        ready = server.get("/readyz")

        redis_server.start()  # back, empty, on the same port
        after = [decide(7)]
        missed = {d["id"] for d in during} - {
            str(pk) for pk in ShadowScore.objects.values_list("decision_id", flat=True)
        }

        # The sweep beat runs every ten minutes; run it now, through the broker, on the worker.
        use_broker(redis_server.url())
        try:
            from modeling.tasks import shadow_backfill_open

            shadow_backfill_open.delay()
        finally:
            use_broker(None)
        # The worker reconnected by itself (it runs the sweep), and every decision has its score.
        wait_until(
            lambda: (
                ShadowScore.objects.filter(decision_id__in=ids(before + during + after)).count()
                == 8
            ),
            timeout=60,
            interval=0.2,
            what="the sweep to score what the outage missed",
        )
    finally:
        worker.kill()

    print(
        f"\n[fault redis] {len(during)} decisions while Redis was down, each in "
        f"{', '.join(f'{t * 1000:.0f}' for t in during_times)} ms; /readyz {ready[0]} "
        f"{ready[2]['status']}; shadow scores missed during the outage {len(missed)}, all "
        f"{len(before + during + after)} scored after the sweep"
    )
    assert ready[0] == 200, ready  # still takes traffic: decisions need neither cache nor broker
    assert ready[2]["status"] == "degraded"
    assert ready[2]["checks"]["database"]["ok"] and ready[2]["checks"]["models"]["ok"]
    assert not ready[2]["checks"]["cache"]["ok"] and not ready[2]["checks"]["broker"]["ok"]
    assert cached_hits == 0 and uncached_hits == 4  # the cache worked, then was simply skipped
    # One failed publish pauses the shadow queueing (modeling.services._enqueue): the others
    # pay no broker timeout.
    assert sorted(during_times)[-2] < 1.0, during_times
    assert missed == set(ids(during))  # what the outage lost, before the sweep
    everything = ids(before + during + after)
    assert (
        ShadowScore.objects.filter(
            decision_id__in=everything, model_version=CHALLENGER_VERSION
        ).count()
        == 8
    )
    assert Decision.objects.filter(idempotency_key__startswith="redis-").count() == 8


def test_a_webhook_queued_while_the_broker_is_down_is_sent_by_the_sweep(
    referred: dict[str, Any],
    receiver: HoldingReceiver,
    redis_server: RedisServer,
) -> None:
    """The reviewer's decision commits with its outbox row; the broker is dead, so the task is not
    queued (logged; the reviewer's page still succeeds). The sweep finds the row and the webhook
    goes out, once."""
    redis_server.kill()
    use_broker(redis_server.url())
    try:
        case = decide_case(referred, reference="HOOK-DOWN")
    finally:
        use_broker(None)
    delivery = WebhookDelivery.objects.get(case=case)
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 0
    assert receiver.requests == []

    assert review_tasks.webhook_sweep() == 0  # too fresh: its task may still be on its way
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=review_tasks.SWEEP_AFTER_S + 1)
    )
    assert review_tasks.webhook_sweep() == 1  # eager in this process: delivered in this call
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.attempts == 1
    assert receiver.delivery_ids() == [str(delivery.pk)]
    assert review_tasks.webhook_sweep() == 0  # nothing pending: nothing sent twice


def test_the_sweep_gives_up_on_a_delivery_that_used_all_its_attempts(
    referred: dict[str, Any], receiver: HoldingReceiver
) -> None:
    case = decide_case(referred, reference="HOOK-EXHAUSTED")  # eager: delivered at once
    delivery = WebhookDelivery.objects.get(case=case)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING,
        attempts=review_tasks.MAX_RETRIES + 1,
        created_at=timezone.now()
        - dt.timedelta(seconds=review_tasks.RETRY_CHAIN_S + review_tasks.SWEEP_AFTER_S + 1),
    )
    assert review_tasks.webhook_sweep() == 0
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert len(receiver.requests) == 1  # only the first, eager delivery
