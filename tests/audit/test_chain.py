from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from audit import triggers
from audit.models import AuditEvent, ChainHead, VerificationRun
from audit.selectors import chain_verify
from audit.services import Actor, audit_record, chain_seal

pytestmark = pytest.mark.django_db


def _append(n: int, *, seal: bool = True) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(
                actor=Actor.system(),
                event_type="test.event",
                subject_type="thing",
                subject_id=str(i),
                payload={"i": i, "amount": "10.00"},
            )
    if seal:
        chain_seal()


def _drop_trigger_and_run(sql: str, table: str = "audit_auditevent") -> None:
    """Tampering as a DBA would: remove the guard first. Rolled back with the test."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f'DROP TRIGGER verdict_immutable_row ON "{table}"')
        else:
            for op in ("upd", "del"):
                cursor.execute(f'DROP TRIGGER "verdict_immutable_{op}_{table}"')
        cursor.execute(sql)


def test_it_chains_events_when_sealed() -> None:
    _append(3, seal=False)
    assert list(AuditEvent.objects.values_list("position", flat=True)) == [None, None, None]
    assert chain_verify().unsealed == 3
    assert chain_seal() == 3
    events = list(AuditEvent.objects.order_by("position"))
    assert [e.position for e in events] == [1, 2, 3]
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    check = chain_verify()
    assert check.ok and check.checked == 3 and check.unsealed == 0
    assert (check.head_position, check.head_hash) == (3, events[2].hash)
    assert chain_seal() == 0


def test_it_seals_in_batches_without_gaps() -> None:
    _append(7, seal=False)
    assert chain_seal(batch=3) == 7
    assert chain_verify().ok and chain_verify().checked == 7
    assert ChainHead.objects.get().last_seq == 7


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError):
        audit_record(
            actor=Actor.system(), event_type="x", subject_type="y", subject_id="1", payload={}
        )


@pytest.mark.django_db(transaction=True)
def test_it_seals_right_after_commit_in_on_commit_mode(settings: Any) -> None:
    settings.AUDIT_SEAL_MODE = "on_commit"
    with transaction.atomic():
        event = audit_record(
            actor=Actor.system(), event_type="x", subject_type="y", subject_id="1", payload={}
        )
        assert event.position is None
    event.refresh_from_db()
    assert event.position is not None and event.hash
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_leaves_no_hole() -> None:
    # After a flush, `decisioning.apps.ensure_roles` re-seeds the roles' permissions, which
    # audit.access records like any other access change: count from here.
    chain_seal()
    before = AuditEvent.objects.count()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        audit_record(
            actor=Actor.system(), event_type="x", subject_type="y", subject_id="1", payload={}
        )
        1 / 0  # noqa: B018
    _append(2)
    check = chain_verify()
    assert check.ok and check.checked == before + 2
    assert AuditEvent.objects.count() == before + 2  # the rolled-back one left no row


# ---- immutability ------------------------------------------------------------------------------


def test_the_database_refuses_update_and_delete_of_events() -> None:
    _append(2)
    table = AuditEvent._meta.db_table
    for sql in (
        f"UPDATE {table} SET subject_id = 'forged' WHERE position = 1",
        f"UPDATE {table} SET position = 9 WHERE position = 1",
        f"UPDATE {table} SET hash = NULL, position = NULL WHERE position = 2",
        f"DELETE FROM {table} WHERE position = 2",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(sql)
    assert chain_verify().ok


def test_the_database_refuses_changing_an_unsealed_event() -> None:
    _append(1, seal=False)
    table = AuditEvent._meta.db_table
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as c,
    ):
        # Sealing is the one change allowed, and only with the content untouched.
        c.execute(f"UPDATE {table} SET position = 1, hash = 'x', subject_id = 'forged'")
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as c,
    ):
        c.execute(f"DELETE FROM {table}")


def test_the_database_refuses_truncate_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is refused row by row)")
    for table in triggers.IMMUTABLE_TABLES:
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(f'TRUNCATE "{table}" CASCADE')


def test_every_immutability_trigger_is_installed() -> None:
    assert triggers.missing(connection) == []


def test_the_orm_refuses_update_delete_and_bulk_paths() -> None:
    from audit.immutable import ImmutableRecordError

    _append(1)
    event = AuditEvent.objects.get()
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(subject_id="x"),
        lambda: AuditEvent.objects.all().delete(),
        lambda: AuditEvent.objects.bulk_update([event], ["subject_id"]),
        lambda: AuditEvent.objects.bulk_create([AuditEvent(occurred_at=event.occurred_at)]),
        lambda: AuditEvent.objects.update_or_create(pk=event.pk, defaults={"subject_id": "x"}),
        event.save,
        event.delete,
    ]
    for attempt in attempts:
        with pytest.raises(ImmutableRecordError):
            attempt()


def test_flush_is_refused_outside_the_test_suite(monkeypatch: Any) -> None:
    from audit.management.commands import flush

    monkeypatch.setattr(flush, "_in_test_run", lambda connection: False)
    with pytest.raises(CommandError, match="append-only"):
        call_command("flush", interactive=False)


# ---- verification -----------------------------------------------------------------------------


def test_verify_audit_records_who_when_and_result(capsys: Any) -> None:
    _append(5)
    call_command("verify_audit")
    assert "5 events verified" in capsys.readouterr().out
    run = VerificationRun.objects.get()
    assert run.status == "passed" and run.source == "cli" and run.checked == 5
    assert run.finished_at and run.triggers_ok and run.head_seq == 5
    assert AuditEvent.objects.filter(event_type="audit.verified").count() == 1


def test_verify_audit_names_the_first_tampered_event() -> None:
    _append(5)
    target = AuditEvent.objects.get(position=3)
    _drop_trigger_and_run(
        f"UPDATE audit_auditevent SET subject_id = 'forged' WHERE seq = {target.seq}"
    )
    result = chain_verify()
    assert not result.ok and result.first_bad_seq == target.seq and result.checked == 2
    assert result.first_bad_position == 3
    with pytest.raises(CommandError, match=f"event #{target.seq} .*content does not match") as e:
        call_command("verify_audit")
    assert "immutability triggers missing" in str(e.value)
    run = VerificationRun.objects.get()
    assert run.status == "failed" and run.first_bad_seq == target.seq and not run.triggers_ok


def test_verify_audit_notices_a_deleted_event_in_the_middle() -> None:
    _append(4)
    _drop_trigger_and_run("DELETE FROM audit_auditevent WHERE position = 2")
    result = chain_verify()
    assert not result.ok and result.first_bad_position == 2 and "missing" in result.problem


def test_verify_audit_notices_a_deleted_tail() -> None:
    _append(4)
    _drop_trigger_and_run("DELETE FROM audit_auditevent WHERE position = 4")
    result = chain_verify()
    assert not result.ok and "head" in result.problem and result.first_bad_position == 4


def test_verify_audit_notices_a_rewritten_chain_tail() -> None:
    """Re-hashing the tail after a change is caught by the head (and by any export manifest)."""
    _append(3)
    last = AuditEvent.objects.get(position=3)
    _drop_trigger_and_run(f"UPDATE audit_auditevent SET hash = '{'f' * 64}' WHERE seq = {last.seq}")
    assert not chain_verify().ok
