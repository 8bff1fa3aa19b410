"""config.db.insert_new writes exactly the row the ORM would."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, models, transaction
from django.forms.models import model_to_dict

from audit.models import AuditEvent
from config.db import insert_new
from decisioning.models import Application, Decision, IntegrationClient, Product

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def client_obj(integration: tuple[IntegrationClient, str]) -> IntegrationClient:
    return integration[0]

NOW = dt.datetime(2026, 11, 3, 10, 15, 30, 123456, tzinfo=dt.UTC)


def _row(model: type[models.Model], pk: Any) -> dict[str, Any]:
    """Every column as stored, read back through the ORM."""
    obj = model._base_manager.get(pk=pk)
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}


def _application(client: IntegrationClient, product: Product, **over: Any) -> dict[str, Any]:
    return {
        "client": client, "product": product, "reference": "R-1", "first_name": "Ada", "last_name": "Lovelace",
        "date_of_birth": dt.date(1985, 12, 10), "postcode": "SW1A 1AA", "uk_resident": True,
        "residential_status": "owner", "months_at_address": 40, "employment_status": "employed",
        "months_in_employment": 30, "annual_income": Decimal("42000.50"), "monthly_expenditure": Decimal("900.00"),
        "existing_debt": Decimal("1234.56"), "monthly_debt_payments": Decimal("80.00"), "dependants": 1,
        "requested_amount": Decimal("5000.00"), "term_months": 36, "purpose": "car", "bankrupt_or_iva": False,
        "identity_hash": "ab" * 32, "submitted_at": NOW, **over,
    }


def _decision(app: Application, **over: Any) -> dict[str, Any]:
    return {
        "application": app, "client_id": app.client_id, "product_id": app.product_id, "outcome": "refer",
        "pd": 0.123456789012345, "pd_lower": 0.1, "pd_upper": None, "approved_amount": None,
        "reasons": [{"code": "PD_REFER_BAND", "description": "é ünïcode \u2028", "source": "system"}],
        "rule_results": [{"rule_id": "R1", "inputs": {"a": None, "b": [1, 2.5]}}],
        "features": {"version": "fc-1", "values": {"age": 40.0, "x": None}}, "explanation": {},
        "signals": [], "counterfactual": None, "ruleset_version": "personal-loan@v3", "feature_version": "fc-1",
        "model_name": "m", "model_version": "7", "model_hash": "cd" * 32, "degraded": True, "latency_ms": 3.25,
        "request_id": "req-1", "idempotency_key": "key-1", "request_hash": "ef" * 32, "created_at": NOW, **over,
    }


def test_rows_are_identical_to_orm_created_rows(product: Product, client_obj: IntegrationClient) -> None:
    with transaction.atomic():
        orm_app = Application.objects.create(**_application(client_obj, product))
        orm_dec = Decision.objects.create(**_decision(orm_app))
        orm_evt = AuditEvent.objects.create(
            occurred_at=NOW, actor_type="client", actor_id="1", actor_display="Acme", event_type="decision.created",
            subject_type="decision", subject_id=str(orm_dec.pk), payload={"pd": 0.1, "n": [1, None]}, correlation_id="c",
        )
        new_app = Application(**_application(client_obj, product))
        new_dec = Decision(**_decision(new_app, idempotency_key="key-2"))
        new_evt = AuditEvent(
            occurred_at=NOW, actor_type="client", actor_id="1", actor_display="Acme", event_type="decision.created",
            subject_type="decision", subject_id=str(orm_dec.pk), payload={"pd": 0.1, "n": [1, None]}, correlation_id="c",
        )
        insert_new(new_app, new_dec, new_evt)

    assert new_evt.seq is not None and new_evt.seq > orm_evt.seq  # the auto key is read back
    assert not new_app._state.adding and not new_dec._state.adding
    for model, a, b, differ in (
        (Application, orm_app.pk, new_app.pk, {"id"}),
        (Decision, orm_dec.pk, new_dec.pk, {"id", "application_id", "idempotency_key"}),
        (AuditEvent, orm_evt.pk, new_evt.pk, {"seq", "position", "prev_hash", "hash", "sealed_at"}),
    ):
        row_a, row_b = _row(model, a), _row(model, b)
        assert set(row_a) == set(row_b)
        assert {k: v for k, v in row_a.items() if k not in differ} == {k: v for k, v in row_b.items() if k not in differ}
    assert model_to_dict(Decision.objects.get(pk=new_dec.pk))["application"] == new_app.pk


def test_it_refuses_saved_instances_and_keeps_constraints(product: Product, client_obj: IntegrationClient) -> None:
    app = Application.objects.create(**_application(client_obj, product))
    with pytest.raises(ValueError, match="new rows only"):
        insert_new(app)
    Decision.objects.create(**_decision(app))
    other = Application(**_application(client_obj, product))
    with pytest.raises(IntegrityError), transaction.atomic():  # same client + Idempotency-Key
        insert_new(other, Decision(**_decision(other)))
    assert not Application.objects.filter(pk=other.pk).exists()  # rolled back together


def test_json_columns_store_what_the_orm_stores_for_awkward_values(product: Product, client_obj: IntegrationClient) -> None:
    # orjson writes the JSON columns; what it refuses (int keys, >64-bit ints) falls back to json.dumps.
    payloads = [
        {"tiny": 1e-7, "huge": 1.5e300, "neg": -0.0, "text": "é\u2028\"\\", "nested": [[], {}, None, True]},
        {1: "int key", "big": 2**70},
    ]
    for payload in payloads:
        with transaction.atomic():
            orm = AuditEvent.objects.create(
                occurred_at=NOW, actor_type="client", actor_id="1", actor_display="Acme", event_type="x",
                subject_type="s", subject_id="1", payload=payload, correlation_id="c",
            )
            new = AuditEvent(
                occurred_at=NOW, actor_type="client", actor_id="1", actor_display="Acme", event_type="x",
                subject_type="s", subject_id="1", payload=payload, correlation_id="c",
            )
            insert_new(new)
        assert AuditEvent.objects.get(pk=new.pk).payload == AuditEvent.objects.get(pk=orm.pk).payload


def test_statements_are_recorded_and_execute_wrappers_see_them(product: Product, client_obj: IntegrationClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    app = Application(**_application(client_obj, product))
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        insert_new(app, Decision(**_decision(app, idempotency_key="key-w1")))
    written = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    # PostgreSQL: one statement (one round trip) writes both rows; elsewhere one statement each
    assert len(written) == (1 if connection.vendor == "postgresql" else 2), written
    assert re.findall(r'INSERT INTO "(\w+)"', " ".join(written)) == ["decisioning_application", "decisioning_decision"]
    app = Application(**_application(client_obj, product))
    with connection.execute_wrapper(wrapper), transaction.atomic():
        insert_new(app, Decision(**_decision(app, idempotency_key="key-w2")))
    assert [s.split(" (")[0] for s in seen if s.startswith("INSERT")] == [
        'INSERT INTO "decisioning_application"', 'INSERT INTO "decisioning_decision"',
    ]


def test_select_one_reads_a_row_or_none_on_either_path(product: Product, client_obj: IntegrationClient) -> None:
    from django.db import connection

    from config.db import select_one

    app = Application.objects.create(**_application(client_obj, product, reference="R-select"))
    sql = 'SELECT "reference", "product_id" FROM "decisioning_application" WHERE "reference" = %s'
    assert select_one(sql, ["R-select"]) == (app.reference, product.pk)
    assert select_one(sql, ["R-none"]) is None
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert select_one(sql, ["R-select"]) == (app.reference, product.pk)
    assert seen == [sql]


def test_statements_without_rows_return_none() -> None:
    from django.db import connection

    from config.db import _execute_prepared, select_one

    if connection.vendor == "postgresql":
        # a statement that returns no rows (COMMAND_OK)
        sql = 'UPDATE "decisioning_product" SET "code" = "code" WHERE "id" = %s'
        assert _execute_prepared(connection, sql, [-1]) is None
    assert select_one("SELECT 1 WHERE 1 = %s", [2]) is None  # rows expected, none found
    assert select_one("SELECT %s", [7]) == (7,)


@pytest.mark.parametrize(
    "over",
    [
        {},
        # values Django's conversion changes: they must take its path, not the shortcut
        {"months_at_address": True, "dependants": 2.0, "annual_income": 42000.5, "submitted_at": NOW.replace(tzinfo=None),
         "date_of_birth": dt.datetime(1985, 12, 10, 0, 0), "reference": 12345, "requested_amount": "5000.00"},
    ],
    ids=["canonical", "coerced"],
)
def test_postgresql_parameters_are_what_get_db_prep_save_builds(
    product: Product, client_obj: IntegrationClient, over: dict[str, Any]
) -> None:
    """The shortcut for values Django's conversion returns unchanged binds exactly the parameters
    `get_db_prep_save(pre_save(...))` and the column's server conversion bind, value and type, for
    every hot-path model."""
    import warnings

    from django.db import connection

    from config.db import _columns_postgresql, _row_postgresql
    from reviews.models import ReviewCase

    if connection.vendor != "postgresql":
        pytest.skip("the shortcut is PostgreSQL's (elsewhere Django's conversion always runs)")
    app = Application(**_application(client_obj, product, **over))
    decision = Decision(**_decision(app))
    case = ReviewCase(decision=decision, priority=5, rank_at=NOW, refer_codes=" PD ", due_at=NOW, created_at=NOW)
    event = AuditEvent(occurred_at=NOW, actor_type="client", actor_id="1", actor_display="Acme", event_type="x",
                       subject_type="s", subject_id="1", payload={"a": 1}, correlation_id="c")
    for obj in (app, decision, case, event):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a naive datetime, on purpose
            expected = [
                (lambda v: v if convert is None else convert(v))(f.get_db_prep_save(f.pre_save(obj, True), connection))
                for f, _, _, _, convert in _columns_postgresql(type(obj), "default")
            ]
            got = _row_postgresql(obj, connection)
        assert [(type(v), v if not hasattr(v, "obj") else v.obj) for v in got] == [
            (type(v), v if not hasattr(v, "obj") else v.obj) for v in expected
        ], type(obj)
