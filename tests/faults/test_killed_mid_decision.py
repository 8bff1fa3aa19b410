"""The API process killed (SIGKILL) between the bureau call and the commit: the client's retry with
the same Idempotency-Key yields exactly one decision, and the killed attempt left no rows.

The bureau is the HTTP stub provider (decisioning/signals/stub.py) configured through
SIGNAL_PROVIDERS_FILE, as a real provider would be; it holds the bureau request open, so the test
knows the server is mid-decision when it kills it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from decisioning.models import Application, Decision
from decisioning.signals.stub import StubServer, provider_config
from tests.conftest import application_body
from tests.faults.conftest import World, postgres_only
from tests.faults.support import ApiServer, database_url_for, service_env, wait_until


@pytest.fixture
def bureau() -> Iterator[StubServer]:
    stub = StubServer().start()
    try:
        yield stub
    finally:
        stub.stop()


def server_env(tmp_path: Path, scorer_file: Path, stub: StubServer) -> dict[str, str]:
    config = provider_config(
        stub.base_url, {"bureau": "hang"}, bureau={"timeout_ms": 20000, "retries": 0}
    )
    providers = tmp_path / "providers.json"
    providers.write_text(json.dumps(config))
    return service_env(
        database_url=database_url_for(connection.settings_dict),
        scorer_file=scorer_file,
        var_dir=tmp_path,
        SIGNAL_PROVIDERS_FILE=str(providers),
        SIGNALS_TIME_BUDGET_MS="25000",
    )


def send_in_background(
    server: ApiServer, token: str, key: str
) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(
                server.decide(token, application_body(reference=key), key=key, timeout=30)
            )
        except OSError as e:  # the server died under it: what a real client sees
            outcome.append(e)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


def assert_retry_gives_exactly_one_decision(server: ApiServer, token: str, key: str) -> None:
    first = server.decide(token, application_body(reference=key), key=key)
    assert first[0] == 201, first
    again = server.decide(token, application_body(reference=key), key=key)
    assert again[0] == 200 and again[1].get("idempotent-replayed") == "true", again
    assert again[2]["id"] == first[2]["id"]
    assert Decision.objects.filter(idempotency_key=key).count() == 1
    assert Application.objects.filter(reference=key).count() == 1
    assert (
        AuditEvent.objects.filter(event_type="decision.created", subject_id=first[2]["id"]).count()
        == 1
    )
    assert not Application.objects.filter(decision__isnull=True).exists()


def nothing_stored(key: str) -> bool:
    return not Application.objects.filter(reference=key).exists() and not (
        Decision.objects.filter(idempotency_key=key).exists()
    )


def test_killed_while_the_bureau_call_is_in_flight(
    world: World,
    scorer_file: Path,
    bureau: StubServer,
    tmp_path: Path,
    servers: list[ApiServer],
) -> None:
    key = "killed-in-bureau-call"
    env = server_env(tmp_path, scorer_file, bureau)
    server = ApiServer(env, log=tmp_path / "gunicorn-1.log").start()
    servers.append(server)

    thread, outcome = send_in_background(server, world.token, key)
    wait_until(lambda: bureau.hits["/bureau/hang"] == 1, timeout=20, what="the bureau call")
    server.kill()  # SIGKILL to gunicorn and its worker, mid-decision
    thread.join(timeout=10)
    assert outcome and isinstance(outcome[0], OSError), outcome  # the client saw no answer
    assert nothing_stored(key)

    bureau.release.set()  # the bureau answers at once from now on
    restarted = ApiServer(env, log=tmp_path / "gunicorn-2.log").start()
    servers.append(restarted)
    assert_retry_gives_exactly_one_decision(restarted, world.token, key)
    assert bureau.hits["/bureau/hang"] == 2  # one pull per attempt, none for the replay


@postgres_only
def test_killed_while_its_write_waits(
    world: World,
    scorer_file: Path,
    bureau: StubServer,
    tmp_path: Path,
    servers: list[ApiServer],
) -> None:
    """Killed after the bureau answered, with the decision's write waiting (on PostgreSQL
    application, decision and audit event are one autocommitted INSERT statement, which waits at the
    decision table). The statement is all or nothing: the orphaned backend aborts it when it finds
    its client gone (what PostgreSQL does here), or — had the client gone only after the commit —
    it is stored whole and the retry is answered with it. Never half a decision, and the retry
    with the same Idempotency-Key yields exactly one."""
    key = "killed-in-transaction"
    bureau.release.set()
    env = server_env(tmp_path, scorer_file, bureau)
    server = ApiServer(env, log=tmp_path / "gunicorn-1.log").start()
    servers.append(server)

    with transaction.atomic(), connection.cursor() as cursor:
        # Inserts need ROW EXCLUSIVE on the table, which SHARE excludes: the decision's insert waits.
        cursor.execute("LOCK TABLE decisioning_decision IN SHARE MODE")
        thread, outcome = send_in_background(server, world.token, key)
        wait_until(lambda: bureau.hits["/bureau/hang"] == 1, timeout=20, what="the bureau call")

        def waiting_insert() -> bool:
            # Inside a transaction pg_stat_activity is a snapshot taken on first read: refresh it.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%%INSERT INTO %%decisioning_decision%%'"
            )
            return bool(cursor.fetchone()[0])

        wait_until(waiting_insert, timeout=20, what="the decision's insert to wait on the lock")
        server.kill()
        thread.join(timeout=10)
    assert outcome and isinstance(outcome[0], OSError), outcome
    # Released: the orphaned backend's insert may now run, but its transaction can never commit.
    with connection.cursor() as cursor:

        def orphan_gone() -> bool:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle' "
                "AND query ILIKE '%%INSERT INTO %%decisioning_decision%%'"
            )
            return cursor.fetchone()[0] == 0

        wait_until(orphan_gone, timeout=20, what="the killed server's statement to end")
    stored = Decision.objects.filter(idempotency_key=key).first()
    if stored is None:
        assert nothing_stored(key)
        assert AuditEvent.objects.filter(event_type="decision.created").count() == Decision.objects.count()
    else:  # whole: its application and its audit event too
        assert Application.objects.filter(reference=key).count() == 1
        assert AuditEvent.objects.filter(event_type="decision.created", subject_id=str(stored.pk)).count() == 1

    restarted = ApiServer(env, log=tmp_path / "gunicorn-2.log").start()
    servers.append(restarted)
    if stored is None:
        assert_retry_gives_exactly_one_decision(restarted, world.token, key)
    else:
        retry = restarted.decide(world.token, application_body(reference=key), key=key)
        assert retry[0] == 200 and retry[1].get("idempotent-replayed") == "true", retry
        assert retry[2]["id"] == str(stored.pk)
        assert Decision.objects.filter(idempotency_key=key).count() == 1
