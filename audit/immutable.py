"""Append-only records: the Python half of immutability (the database half is in the triggers of
migration `audit.0003`).

The triggers are the enforcement — they hold whatever code, shell or SQL client is used. The
guards here make the mistake fail early and with a clear message in code review and tests:
`QuerySet.update()`, `.delete()`, `bulk_update()` and saving or deleting an existing instance
raise `ImmutableRecordError` before any SQL is sent.

`bulk_create` is refused as well: it skips `save()`, and an append-only record created outside
its service would have no audit event.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.db import models

#: The tables whose rows never change once written (decision evidence and the audit chain).
#: Installed by migration audit.0005.
CORE_TABLES = (
    "decisioning_application",
    "decisioning_decision",
    "decisioning_loanoutcome",
    "audit_auditevent",
)
#: Reviewers' acts and challengers' shadow scores: evidence too (migration audit.0006).
EVIDENCE_TABLES = (
    "reviews_reviewaction",
    "modeling_shadowscore",
)
IMMUTABLE_TABLES = CORE_TABLES + EVIDENCE_TABLES


class ImmutableRecordError(Exception):
    """An attempt to change or remove an append-only record."""


def _refuse(model: type[models.Model], what: str) -> ImmutableRecordError:
    return ImmutableRecordError(
        f"{model._meta.label} is append-only: {what} is not allowed. "
        "Record a new fact instead (for example a LoanOutcome report or a review action)."
    )


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise _refuse(self.model, "QuerySet.update()")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise _refuse(self.model, "QuerySet.delete()")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise _refuse(self.model, "bulk_update()")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise _refuse(self.model, "bulk_create() (it bypasses the service and its audit event)")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise _refuse(self.model, "update_or_create()")


class ImmutableManager(models.Manager.from_queryset(ImmutableQuerySet)):  # type: ignore[misc]
    """The default manager of an append-only model."""


def refuse_instance_change(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    """`pre_save` receiver: a row that already exists is never saved again."""
    if not instance._state.adding:
        raise _refuse(sender, "saving an existing row")


def refuse_instance_delete(
    sender: type[models.Model], instance: models.Model, **kwargs: Any
) -> None:
    """`pre_delete` receiver."""
    raise _refuse(sender, "deleting a row")


# ---- the one sanctioned purge: the test-suite's flush -------------------------------------------

_purge = threading.local()


def purge_allowed() -> bool:
    """Read by the SQLite DELETE triggers through the SQL function `verdict_purge_allowed()`."""
    return bool(getattr(_purge, "on", False))


@contextlib.contextmanager
def test_database_purge(connection: Any) -> Iterator[None]:
    """Let a test database be emptied between transactional tests.

    PostgreSQL: `session_replication_role = replica` silences ordinary triggers for this session.
    Setting it needs superuser (or, from PostgreSQL 15, `GRANT SET ON PARAMETER`), which the
    application's role in production does not have — and a role that has it could drop the
    triggers anyway, so nothing is weakened.
    SQLite: the DELETE triggers call `verdict_purge_allowed()`, a function this process registers
    on each connection; it answers true only inside this block.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    else:
        _purge.on = True
        try:
            yield
        finally:
            _purge.on = False
