"""PostgreSQL stopped, unreachable or stuck under load: the decision API answers 503 in the one
JSON error shape within its timeouts, never 201 without a committed decision, leaves no partial
rows, and recovers by itself when the database is back.

The shared PostgreSQL is never touched: gunicorn reaches the test database through a TCP proxy
(tests/faults/support.py) and the proxy is what fails.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from decisioning.models import Application, Decision
from tests.conftest import application_body
from tests.faults.conftest import World, postgres_only
from tests.faults.support import ApiServer, TcpProxy, database_url_for, service_env, wait_until

CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 1500
# A refused or timed-out database must come back as a 503 well within this (connect timeout plus
# a request's own work on a busy two-core machine).
ANSWER_WITHIN_S = CONNECT_TIMEOUT_S + 4


@dataclass
class Call:
    key: str
    status: int
    body: Any
    headers: dict[str, str]
    started: float
    seconds: float


class Load:
    """A few client threads deciding distinct applications back to back, each with its own key."""

    def __init__(self, server: ApiServer, token: str, *, prefix: str, threads: int = 4) -> None:
        self.server, self.token, self.prefix = server, token, prefix
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = itertools.count()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            n = next(self._counter)
            key = f"{self.prefix}-{n}"
            started = time.monotonic()
            try:
                status, headers, body = self.server.decide(
                    self.token,
                    application_body(reference=key, first_name=f"Load{n}"),
                    key=key,
                    timeout=30,
                )
            except OSError as e:
                status, headers, body = 0, {}, repr(e)
            call = Call(key, status, body, headers, started, time.monotonic() - started)
            with self._lock:
                self.calls.append(call)
            if status != 201:
                time.sleep(0.05)  # a client backing off a little, as Retry-After asks

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=40)

    def since(self, moment: float) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.started >= moment]

    def wait_for(self, predicate: Any, *, timeout: float, what: str) -> None:
        wait_until(lambda: predicate(self.since(0)), timeout=timeout, interval=0.05, what=what)


pytestmark = postgres_only


@pytest.fixture(scope="module")
def server(
    world: World, pg_proxy: TcpProxy, scorer_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """One gunicorn for the module, reaching the test database only through the proxy."""
    var = tmp_path_factory.mktemp("pg-outage")
    env = service_env(
        database_url=database_url_for(connection.settings_dict, port=pg_proxy.port),
        scorer_file=scorer_file,
        var_dir=var,
        DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT_S),
        DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
    )
    api = ApiServer(env, log=var / "gunicorn.log", workers=1, threads=4).start()
    try:
        yield api
    finally:
        api.kill()


@pytest.fixture(autouse=True)
def _database_back(pg_proxy: TcpProxy) -> Iterator[None]:
    try:
        yield
    finally:
        pg_proxy.restore()


def assert_unavailable(call: Call) -> None:
    assert call.status == 503, (call.status, call.body)
    assert call.body == {
        "code": "unavailable",
        "message": call.body["message"],
        "errors": {},
    }, call.body
    assert call.body["message"]
    assert call.headers.get("retry-after", "").isdigit(), call.headers


def assert_nothing_partial_and_one_decision_per_key(
    calls: list[Call], server: ApiServer, token: str
) -> None:
    """Every 201 is a committed decision with its audit event; retrying every failed key gives
    exactly one decision for it; no application without its decision anywhere."""
    created = [c for c in calls if c.status == 201]
    for c in created:
        decision = Decision.objects.get(pk=c.body["id"])
        assert decision.idempotency_key == c.key
    failed = [c for c in calls if c.status != 201]
    for c in failed:  # the client's retry with the same key (and body)
        n = c.key.rsplit("-", 1)[1]
        status, _, body = server.decide(
            token, application_body(reference=c.key, first_name=f"Load{n}"), key=c.key
        )
        # 200: the first attempt did commit before the connection was cut (the retry gets it).
        assert status in (200, 201), (status, body)
    keys = [c.key for c in calls]
    per_key = Decision.objects.filter(idempotency_key__in=keys).values_list(
        "idempotency_key", flat=True
    )
    assert sorted(per_key) == sorted(keys)  # exactly one decision per key
    assert not Application.objects.filter(decision__isnull=True).exists()
    decided = {str(pk) for pk in Decision.objects.values_list("pk", flat=True)}
    audited = set(
        AuditEvent.objects.filter(event_type="decision.created").values_list(
            "subject_id", flat=True
        )
    )
    assert decided == audited


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_database_down_under_load_gives_503_and_recovers_by_itself(
    fault: str,
    pg_proxy: TcpProxy,
    world: World,
    server: ApiServer,
) -> None:
    token = world.token

    with Load(server, token, prefix=f"pg-{fault}") as load:
        load.wait_for(
            lambda calls: sum(c.status == 201 for c in calls) >= 8,
            timeout=30,
            what="decisions before the fault",
        )
        down_at = time.monotonic()
        getattr(pg_proxy, fault)()  # refuse: a stopped server; blackhole: an unreachable host
        load.wait_for(
            lambda calls: (
                sum(c.status == 503 for c in calls if c.started > down_at + 0.5) >= 6
                and time.monotonic() > down_at + 3
            ),
            timeout=30,
            what="503s while the database is down",
        )
        ready = server.get("/readyz", timeout=ANSWER_WITHIN_S + 2)
        up_at = time.monotonic()
        pg_proxy.restore()
        load.wait_for(
            lambda calls: sum(c.status == 201 for c in calls if c.started > up_at) >= 8,
            timeout=30,
            what="decisions after the database came back",
        )
        recovered_in = (
            min(c.started + c.seconds for c in load.since(up_at) if c.status == 201) - up_at
        )

    assert ready[0] == 503 and ready[2]["status"] == "unavailable", ready
    assert ready[2]["checks"]["database"]["ok"] is False

    outage = [c for c in load.calls if c.started > down_at + 0.5 and c.started + c.seconds < up_at]
    assert outage, "no request was sent while the database was down"
    for call in outage:  # every request during the outage: a clear 503, in bounded time
        assert_unavailable(call)
        assert call.seconds < ANSWER_WITHIN_S, call.seconds
    assert {c.status for c in load.calls} <= {201, 503}, {c.status for c in load.calls}
    assert recovered_in < 10, recovered_in  # by itself: nobody restarted anything
    assert_nothing_partial_and_one_decision_per_key(load.calls, server, token)
    print(
        f"\n[fault {fault}] {len(load.calls)} requests: {sum(c.status == 201 for c in load.calls)} x 201, "
        f"{sum(c.status == 503 for c in load.calls)} x 503; during the outage {len(outage)} answered 503 in "
        f"max {max(c.seconds for c in outage):.2f} s; /readyz {ready[0]} in {ready[2]['checks']['database']['ms']} ms; "
        f"first 201 {recovered_in:.2f} s after the database came back"
    )


def test_a_stuck_database_times_out_into_a_503_and_rolls_back(
    world: World,
    server: ApiServer,
) -> None:
    """The database answers but the decision's writes wait on a lock (a stuck or overloaded
    server): the statement timeout turns that into a 503 instead of a request that hangs."""
    token = world.token
    warm = server.decide(token, application_body(reference="WARM"), key="warm", timeout=30)
    assert warm[0] == 201, warm

    with transaction.atomic(), connection.cursor() as cursor:
        # Inserts need ROW EXCLUSIVE on the table, which SHARE excludes: the decision's insert waits.
        cursor.execute("LOCK TABLE decisioning_decision IN SHARE MODE")
        started = time.monotonic()
        status, _headers, body = server.decide(
            token, application_body(reference="STUCK"), key="stuck", timeout=30
        )
        seconds = time.monotonic() - started

    print(
        f"\n[fault stuck] 503 {body['code']!r} after {seconds:.2f} s (statement timeout {STATEMENT_TIMEOUT_MS} ms)"
    )
    assert status == 503, body
    assert body["code"] == "unavailable"
    assert STATEMENT_TIMEOUT_MS / 1000 <= seconds < STATEMENT_TIMEOUT_MS / 1000 + 4, seconds
    assert not Decision.objects.filter(idempotency_key="stuck").exists()
    assert not Application.objects.filter(reference="STUCK").exists()
    # The lock is gone: the retry with the same key decides, once.
    assert server.decide(token, application_body(reference="STUCK"), key="stuck")[0] == 201
    assert server.decide(token, application_body(reference="STUCK"), key="stuck")[0] == 200
    assert Decision.objects.filter(idempotency_key="stuck").count() == 1
