"""Decision evidence cannot be changed: not in SQL, not through the ORM, not in the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from audit.immutable import ImmutableRecordError
from decisioning import services
from decisioning.models import Application, Decision, LoanOutcome
from tests.audit.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def outcome(decide_via_api: Any, integration: Any) -> LoanOutcome:
    decision = decide_via_api()
    assert decision.outcome == "approve"
    return services.loan_outcome_record(
        client=integration[0],
        decision=decision,
        status="performing",
        as_of=decision.created_at.date(),
    )


def _sql(sql: str, params: tuple[Any, ...] = ()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


RAW = [
    ("decisioning_decision", "UPDATE decisioning_decision SET outcome = 'approve', pd = 0.01"),
    ("decisioning_decision", "DELETE FROM decisioning_decision"),
    ("decisioning_application", "UPDATE decisioning_application SET annual_income = 999999"),
    ("decisioning_application", "DELETE FROM decisioning_application"),
    ("decisioning_loanoutcome", "UPDATE decisioning_loanoutcome SET status = 'repaid'"),
    ("decisioning_loanoutcome", "DELETE FROM decisioning_loanoutcome"),
]


@pytest.mark.parametrize(("table", "sql"), RAW, ids=[s.split(" ")[0] + " " + t for t, s in RAW])
def test_raw_sql_tampering_is_rejected(outcome: LoanOutcome, table: str, sql: str) -> None:
    with pytest.raises(IntegrityError, match="append-only"):
        _sql(sql)
    decision = Decision.objects.get()
    assert decision.outcome == "approve" and LoanOutcome.objects.get().status == "performing"


def test_truncate_is_rejected_on_postgresql(outcome: LoanOutcome) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    _sql("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred FK checks
    for table in ("decisioning_decision", "decisioning_application", "decisioning_loanoutcome"):
        with pytest.raises(IntegrityError, match="append-only"):
            _sql(f'TRUNCATE "{table}" CASCADE')


def test_the_orm_refuses_every_change_path(outcome: LoanOutcome) -> None:
    decision = Decision.objects.get()
    app = Application.objects.get()
    attempts = [
        lambda: Decision.objects.filter(pk=decision.pk).update(outcome="decline"),
        lambda: Decision.objects.all().delete(),
        lambda: Decision.objects.bulk_update([decision], ["outcome"]),
        lambda: Decision.objects.bulk_create([Decision()]),
        lambda: Application.objects.update(annual_income=1),
        lambda: LoanOutcome.objects.filter(pk=outcome.pk).update(status="repaid"),
        lambda: LoanOutcome.objects.update_or_create(pk=outcome.pk, defaults={"status": "repaid"}),
        decision.save,
        decision.delete,
        app.save,
        app.delete,
        outcome.save,
        outcome.delete,
    ]
    for attempt in attempts:
        # Deleting a decision that a loan outcome points at is stopped even earlier (PROTECT).
        with pytest.raises((ImmutableRecordError, ProtectedError)), transaction.atomic():
            attempt()
    assert Decision.objects.get().outcome == "approve"


def test_a_new_loan_outcome_report_is_how_a_loan_changes(
    outcome: LoanOutcome, integration: Any
) -> None:
    later = services.loan_outcome_record(
        client=integration[0],
        decision=outcome.decision,
        status="repaid",
        as_of=outcome.as_of + dt.timedelta(days=0),
    )
    assert LoanOutcome.objects.count() == 2 and later.pk != outcome.pk


@pytest.mark.parametrize("model", ["decision", "application", "loanoutcome"])
def test_the_admin_offers_no_change_or_delete(
    outcome: LoanOutcome, manager: Any, model: str
) -> None:
    manager.is_superuser = True  # even a superuser
    manager.save()
    obj = {
        "decision": outcome.decision,
        "application": outcome.decision.application,
        "loanoutcome": outcome,
    }[model]
    client = signed_in(manager)
    change = client.post(f"/admin/decisioning/{model}/{obj.pk}/change/", {"outcome": "decline"})
    delete = client.post(f"/admin/decisioning/{model}/{obj.pk}/delete/", {"post": "yes"})
    assert change.status_code == 403 and delete.status_code == 403
    assert client.get(f"/admin/decisioning/{model}/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_still_flush(decide_via_api: Any) -> None:
    """The suite's flush is the one purge allowed; this test's teardown exercises it."""
    decide_via_api()
    assert Decision.objects.count() == 1
