"""`flush`, refused outside the test suite.

Decisions and audit events are append-only, so emptying the database is not something Verdict
does. Django's test framework still needs it: `TransactionTestCase` (pytest-django's
`django_db(transaction=True)`) empties every table with this command after each test. Only
there — the test environment is set up and the database is a test database — is the purge let
through the immutability triggers (see `audit.immutable.test_database_purge`).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections

from audit.immutable import test_database_purge


def _in_test_run(connection: Any) -> bool:
    from django.test.utils import _TestState  # set by setup_test_environment(), removed after

    name = str(connection.settings_dict.get("NAME") or "")
    return hasattr(_TestState, "saved_data") and "test" in name.rsplit("/", 1)[-1]


class Command(flush.Command):
    help = "Refused: decisions and audit events are append-only. (Test databases only.)"

    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if not _in_test_run(connection):
            raise CommandError(
                "flush is disabled: decisions and audit events are append-only and the database "
                "refuses to delete them. Only a test database is ever flushed."
            )
        with test_database_purge(connection):
            super().handle(**options)
