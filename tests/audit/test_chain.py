from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.models import AuditEvent
from audit.selectors import chain_verify
from audit.services import Actor, audit_record

pytestmark = pytest.mark.django_db


def _append(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(actor=Actor.system(), event_type="test.event", subject_type="thing", subject_id=str(i), payload={"i": i, "amount": "10.00"})


def test_it_chains_events() -> None:
    _append(3)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert chain_verify().ok and chain_verify().checked == 3


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError):
        audit_record(actor=Actor.system(), event_type="x", subject_type="y", subject_id="1", payload={})


def test_verify_audit_names_the_first_tampered_event(capsys: Any) -> None:
    _append(5)
    call_command("verify_audit")
    assert "5 events verified" in capsys.readouterr().out
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET subject_id = 'forged' WHERE seq = 3")  # noqa: S608
    result = chain_verify()
    assert not result.ok and result.first_bad_seq == 3 and result.checked == 2
    with pytest.raises(CommandError, match="#3"):
        call_command("verify_audit")


def test_verify_audit_notices_a_deleted_tail() -> None:
    _append(4)
    AuditEvent.objects.filter(seq=4).delete()
    result = chain_verify()
    assert not result.ok and "head" in result.problem
