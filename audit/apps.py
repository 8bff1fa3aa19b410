from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_delete, pre_save

#: Models whose rows never change once written (their tables carry the immutability triggers).
IMMUTABLE_MODELS = (
    "decisioning.Application",
    "decisioning.Decision",
    "decisioning.LoanOutcome",
    "audit.AuditEvent",
)


def _register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        from audit.immutable import purge_allowed

        connection.connection.create_function(
            "verdict_purge_allowed", 0, lambda: 1 if purge_allowed() else 0
        )


def _reinstall_sqlite_triggers(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """SQLite drops a table's triggers when a migration rebuilds the table: put them back."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from audit import triggers

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    if ("audit", "0005_immutability_triggers") in MigrationRecorder(
        connection
    ).applied_migrations():
        triggers.install(connection)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit.immutable import refuse_instance_change, refuse_instance_delete

        for label in IMMUTABLE_MODELS:
            model = self.apps.get_model(label)
            pre_save.connect(
                refuse_instance_change, sender=model, dispatch_uid=f"immutable-save-{label}"
            )
            pre_delete.connect(
                refuse_instance_delete, sender=model, dispatch_uid=f"immutable-del-{label}"
            )
        from audit import access

        access.connect()
        connection_created.connect(
            _register_sqlite_functions, dispatch_uid="verdict-sqlite-functions"
        )
        post_migrate.connect(
            _reinstall_sqlite_triggers, sender=self, dispatch_uid="verdict-sqlite-triggers"
        )
