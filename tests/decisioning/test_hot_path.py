"""The decision hot path does a fixed, small amount of database work (issue 11)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import application_body

pytestmark = pytest.mark.django_db


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0].upper() for q in queries.captured_queries]


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() not in ("SAVEPOINT", "RELEASE")]


def _inserted(statements: list[str]) -> list[str]:
    """The tables written, in order, whether each INSERT is its own statement or one of several
    combined into one (PostgreSQL: config.db.insert_new)."""
    return [t for sql in statements for t in re.findall(r'INSERT INTO "(\w+)"', sql)]


POSTGRES = connection.vendor == "postgresql"


def test_an_approved_decision_costs_three_inserts_and_nothing_else(api: APIClient, product: Any) -> None:
    api.post("/api/v1/decisions", application_body(reference="warm"), format="json")  # caches warm
    with CaptureQueriesContext(connection) as queries:
        r = api.post("/api/v1/decisions", application_body(reference="B", first_name="Bea"), format="json")
    assert r.status_code == 201 and r.json()["outcome"] == "approve"
    statements = _statements(queries)
    # application, decision, audit event — no reads at all once the token, product, policy and
    # model are warm in the process; on PostgreSQL one statement (one round trip) writes all three.
    assert _inserted(statements) == ["decisioning_application", "decisioning_decision", "audit_auditevent"]
    assert len(statements) == (1 if POSTGRES else 3), [sql[:80] for sql in statements]


def test_an_idempotency_key_adds_one_two_column_probe(api: APIClient, product: Any) -> None:
    api.post("/api/v1/decisions", application_body(reference="warm"), format="json", HTTP_IDEMPOTENCY_KEY="k-0")
    body = application_body(reference="K", first_name="Kay")
    with CaptureQueriesContext(connection) as queries:
        r = api.post("/api/v1/decisions", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert r.status_code == 201 and r.json()["outcome"] == "approve"
    sql = _statements(queries)
    assert sql[0].split()[0].upper() == "SELECT" and len(sql) == (2 if POSTGRES else 4), sql
    assert _inserted(sql[1:]) == ["decisioning_application", "decisioning_decision", "audit_auditevent"]
    probe = sql[0].split(" FROM ")[0]
    assert probe.count(",") == 1 and "JOIN" not in sql[0] and "LIMIT 1" in sql[0], sql[0]  # pk and hash, one row
    with CaptureQueriesContext(connection) as retry:
        again = api.post("/api/v1/decisions", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert all(q["sql"].split()[0].upper() == "SELECT" for q in retry.captured_queries)  # a retry writes nothing


def test_a_referred_decision_adds_only_its_review_case(api: APIClient, product: Any) -> None:
    api.post("/api/v1/decisions", application_body(reference="warm"), format="json")
    # Risky but not hard-gated applicants (the body of test_it_refers_into_the_review_queue);
    # the first that is referred is measured.
    for i in range(20):
        with CaptureQueriesContext(connection) as queries:
            r = api.post(
                "/api/v1/decisions",
                application_body(
                    reference=f"K{i}", first_name=f"Ref{i}", annual_income="19000.00",
                    existing_debt="14000.00", monthly_debt_payments="420.00",
                    monthly_expenditure="700.00", amount="12000.00", term_months=60,
                    months_in_employment=3, employment_status="self_employed",
                    residential_status="rent", months_at_address=4,
                ),
                format="json",
            )
        if r.json()["outcome"] == "refer":
            break
    assert r.json()["outcome"] == "refer"
    statements = _statements(queries)
    # application, decision and review case (one statement on PostgreSQL), then the audit event
    # that records the case's id
    assert _inserted(statements) == [
        "decisioning_application", "decisioning_decision", "reviews_reviewcase", "audit_auditevent",
    ], [sql[:80] for sql in statements]
    assert len(statements) == (2 if POSTGRES else 4)


def test_a_warm_decision_loads_no_model_calls_no_mlflow_and_imports_nothing(
    api: APIClient, product: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: model loading, MLflow and imports happen at start-up or in the background, never
    while an integration waits for its decision."""
    import sys

    from modeling import registry, serving

    api.post("/api/v1/decisions", application_body(reference="warm"), format="json")
    api.post("/api/v1/decisions", application_body(reference="warm-2", first_name="Wes"), format="json")

    def forbidden(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"{what} on the hot path")

        return call

    monkeypatch.setattr(registry, "_mlflow", forbidden("an MLflow call"))
    monkeypatch.setattr(registry, "load_model", forbidden("a model load"))
    monkeypatch.setattr(serving, "_load", forbidden("a model load"))
    monkeypatch.setattr(serving, "_maybe_refresh_in_background", lambda *a, **k: None)  # its own thread
    modules_before = set(sys.modules)
    r = api.post("/api/v1/decisions", application_body(reference="C", first_name="Cy"), format="json")
    assert r.status_code == 201, r.content
    assert r.json()["model"]["version"] and "MODEL_UNAVAILABLE" not in r.content.decode()  # scored, not refused
    # Function-level imports of modules already loaded (xgboost does some) are dictionary
    # lookups; a module loaded for the first time would show up here.
    assert set(sys.modules) == modules_before, sorted(set(sys.modules) - modules_before)


def test_workers_warm_the_model_and_rule_set_before_traffic(
    product: Any, trained_scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config/gunicorn.py calls warm_caches in each worker before it takes traffic: the registry
    load happens there, and the first decision finds the model in memory."""
    from decisioning.selectors import scorer_for_product, warm_caches
    from modeling import serving

    loads: list[str] = []

    def registry_load(code: str, alias: str) -> Any:  # stands in for the MLflow registry
        loads.append(code)
        return trained_scorer

    monkeypatch.setattr(serving, "_load", registry_load)
    monkeypatch.setattr(serving, "_maybe_refresh_in_background", lambda *a, **k: None)
    serving.forget()
    warmed = warm_caches()
    assert warmed[product.code] == f"builtin-1, {trained_scorer.model_name} v{trained_scorer.model_version}", warmed
    assert loads == [product.code]
    assert scorer_for_product(product=product) == (trained_scorer, "")
    assert loads == [product.code]  # served from memory: no second load


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_approval_is_one_autocommitted_statement(
    api: APIClient, product: Any, settings: Any
) -> None:
    """No BEGIN and no COMMIT round trips: the one INSERT statement is its own transaction."""
    if not POSTGRES:
        pytest.skip("one statement for the three rows needs PostgreSQL; elsewhere a transaction (above)")
    from decisioning.models import Decision

    settings.AUDIT_SEAL_MODE = "scheduled"  # as in production: the chain is sealed by a beat task

    api.post("/api/v1/decisions", application_body(reference="warm"), format="json")
    with CaptureQueriesContext(connection) as queries:
        r = api.post("/api/v1/decisions", application_body(reference="A1", first_name="Ann"), format="json")
    assert r.status_code == 201 and r.json()["outcome"] == "approve"
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 1 and sql[0].startswith("WITH "), [s[:60] for s in sql]
    assert Decision.objects.filter(pk=r.json()["id"]).exists()  # committed: visible to a new query


@pytest.mark.django_db(transaction=True)
def test_a_one_statement_write_that_fails_leaves_no_row_behind(
    api: APIClient, product: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent duplicate passes the key probe and its INSERT hits the unique (client, key)
    index: its application and audit event, in the same statement, are not written either; the
    request is answered as the retry it is, and the connection keeps working."""
    from audit.models import AuditEvent
    from decisioning import services
    from decisioning.models import Application, Decision

    body = application_body(reference="D1", first_name="Dot")
    first = api.post("/api/v1/decisions", body, format="json", HTTP_IDEMPOTENCY_KEY="dup-1")
    assert first.status_code == 201
    real_probe, probes = services._existing_for_key, []

    def late_probe(**kwargs: Any) -> Any:  # the first probe runs before the other request commits
        probes.append(kwargs["key"])
        return None if len(probes) == 1 else real_probe(**kwargs)

    monkeypatch.setattr(services, "_existing_for_key", late_probe)
    again = api.post("/api/v1/decisions", body, format="json", HTTP_IDEMPOTENCY_KEY="dup-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.content
    assert probes == ["dup-1", "dup-1"]  # the second probe is the IntegrityError handler's
    assert Application.objects.count() == Decision.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="decision.created").count() == 1
    monkeypatch.setattr(services, "_existing_for_key", real_probe)
    assert api.post("/api/v1/decisions", application_body(reference="D2"), format="json").status_code == 201
    assert Application.objects.count() == 2


def _terminate_backend_of(conn: Any) -> int:
    """What a database restart or failover does to an idle pooled connection: its server process
    ends. Returns the pid it had."""
    import psycopg

    pid = conn.connection.info.backend_pid
    params = conn.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    return pid


@pytest.mark.django_db(transaction=True)
def test_a_decision_on_a_connection_the_database_dropped_is_answered(api: APIClient, product: Any) -> None:
    """A request's first statement, the Idempotency-Key probe, is its health check: a pooled
    connection whose server went away since the last request is replaced and the read asked again,
    so the decision is answered (201), not refused (503)."""
    if not POSTGRES:
        pytest.skip("CONN_HEALTH_CHECKS and the prepared probe are the PostgreSQL configuration")
    from django.db import close_old_connections

    assert api.post("/api/v1/decisions", application_body(reference="S0"), format="json",
                    HTTP_IDEMPOTENCY_KEY="stale-0").status_code == 201
    old_pid = _terminate_backend_of(connection)
    close_old_connections()  # what Django does at the start of every request (the test client skips it)
    r = api.post("/api/v1/decisions", application_body(reference="S1", first_name="Sid"), format="json",
                 HTTP_IDEMPOTENCY_KEY="stale-1")
    assert r.status_code == 201, r.content
    assert connection.connection.info.backend_pid != old_pid  # on a new connection


@pytest.mark.django_db(transaction=True)
def test_the_probe_spares_the_request_djangos_health_check(product: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A successful first read proves the connection usable: Django does not send its own
    `SELECT 1` before the request's next ORM query (referrals, the rule set's freshness check)."""
    if not POSTGRES:
        pytest.skip("CONN_HEALTH_CHECKS is the PostgreSQL configuration")
    from django.db import close_old_connections

    from config.db import select_one
    from decisioning.models import Product

    Product.objects.count()  # connected
    close_old_connections()  # a new request: Django will health-check before the first cursor
    assert connection.health_check_enabled and not connection.health_check_done
    checks: list[bool] = []
    real = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(True) or real())
    assert select_one('SELECT "code" FROM "decisioning_product" WHERE "code" = %s', [product.code]) == (product.code,)
    assert Product.objects.filter(code=product.code).exists()
    assert checks == []


@pytest.mark.django_db(transaction=True)
def test_the_probe_asks_again_only_for_a_connection_found_dead(product: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not after a real error on a live connection (a statement timeout), and not after a failed
    connect (a database that is down would cost two connect timeouts)."""
    if not POSTGRES:
        pytest.skip("CONN_HEALTH_CHECKS and the prepared probe are the PostgreSQL configuration")
    from django.db import OperationalError, close_old_connections

    import config.db
    from config.db import select_one
    from decisioning.models import Product

    Product.objects.count()
    close_old_connections()
    with connection.cursor() as cursor:  # a live connection whose next statement times out
        cursor.execute("SET statement_timeout = 50")
    close_old_connections()
    real, calls = config.db._execute_prepared, []

    def counted(*args: Any) -> Any:
        calls.append(args[1])
        return real(*args)

    monkeypatch.setattr(config.db, "_execute_prepared", counted)
    with pytest.raises(OperationalError):
        select_one("SELECT pg_sleep(%s)", [1])
    assert len(calls) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")

    connection.close()  # no connection yet: the first statement connects, and that connect fails
    connection.health_check_done = False

    def refused(*args: Any) -> Any:
        calls.append(args[1])
        raise OperationalError("connection refused")

    calls.clear()
    monkeypatch.setattr(config.db, "_execute_prepared", refused)
    with pytest.raises(OperationalError):
        select_one('SELECT "code" FROM "decisioning_product" WHERE "code" = %s', [product.code])
    assert len(calls) == 1
