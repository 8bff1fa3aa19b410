"""Database triggers that make decision evidence and the audit chain append-only.

Installed by migration `audit.0004`; on SQLite re-installed after every migrate (SQLite rebuilds
a table to alter it, and the rebuilt table has no triggers). Both engines reject UPDATE and
DELETE row by row; PostgreSQL also rejects TRUNCATE. The error surfaces in Django as
`IntegrityError` on both engines (SQLSTATE 23000 / SQLITE_CONSTRAINT_TRIGGER).

The only way through is `audit.immutable.test_database_purge`, used by the test suite's flush.
"""

from __future__ import annotations

from typing import Any

from audit.immutable import IMMUTABLE_TABLES

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION verdict_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'verdict: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Decisions and audit events are never changed; record a new fact instead.';
END
$$;
"""


#: Columns the sealer fills in once; every other column of an audit event is final when written.
SEAL_COLUMNS = ("position", "prev_hash", "hash", "sealed_at")
AUDIT_CONTENT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_display",
    "event_type",
    "subject_type",
    "subject_id",
    "payload",
    "correlation_id",
)

PG_SEAL_FUNCTION = """
CREATE OR REPLACE FUNCTION verdict_audit_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one change an audit event ever gets: sealed once, its content untouched.
    IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
       AND NEW.hash IS NOT NULL
       AND (to_jsonb(NEW) - '{position,prev_hash,hash,sealed_at}'::text[])
           = (to_jsonb(OLD) - '{position,prev_hash,hash,sealed_at}'::text[]) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'verdict: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Audit events are sealed once by the sealer and never changed.';
END
$$;
"""


def _pg_table(table: str) -> list[str]:
    row_function = (
        "verdict_audit_seal_only" if table == "audit_auditevent" else "verdict_refuse_change"
    )
    return [
        f'CREATE OR REPLACE TRIGGER verdict_immutable_row BEFORE UPDATE OR DELETE ON "{table}" '
        f"FOR EACH ROW EXECUTE FUNCTION {row_function}()",
        f'CREATE OR REPLACE TRIGGER verdict_immutable_truncate BEFORE TRUNCATE ON "{table}" '
        "FOR EACH STATEMENT EXECUTE FUNCTION verdict_refuse_change()",
    ]


def _sqlite_table(table: str) -> list[str]:
    msg = f"verdict: %s on {table} is refused: the table is append-only"
    when = ""
    if table == "audit_auditevent":
        unchanged = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in AUDIT_CONTENT_COLUMNS)
        when = (
            "WHEN NOT (OLD.position IS NULL AND NEW.position IS NOT NULL "
            f"AND NEW.hash IS NOT NULL AND {unchanged}) "
        )
    return [
        f'CREATE TRIGGER IF NOT EXISTS "verdict_immutable_upd_{table}" BEFORE UPDATE ON "{table}" '
        f"FOR EACH ROW {when}BEGIN SELECT RAISE(ABORT, '{msg % 'UPDATE'}'); END",
        # An unregistered function (the sqlite3 shell) makes the DELETE fail too: closed by default.
        f'CREATE TRIGGER IF NOT EXISTS "verdict_immutable_del_{table}" BEFORE DELETE ON "{table}" '
        f"FOR EACH ROW WHEN NOT verdict_purge_allowed() "
        f"BEGIN SELECT RAISE(ABORT, '{msg % 'DELETE'}'); END",
    ]


def install_sql(vendor: str, tables: tuple[str, ...] = IMMUTABLE_TABLES) -> list[str]:
    """Idempotent. Migrations pass the tables that exist at their point in history."""
    if vendor == "postgresql":
        return [
            PG_FUNCTION,
            PG_SEAL_FUNCTION,
            *(sql for t in tables for sql in _pg_table(t)),
        ]
    if vendor == "sqlite":
        return [sql for t in tables for sql in _sqlite_table(t)]
    raise NotImplementedError(f"no immutability triggers for {vendor}")


def uninstall_sql(vendor: str, tables: tuple[str, ...] = IMMUTABLE_TABLES) -> list[str]:
    if vendor == "postgresql":
        drops = [
            f'DROP TRIGGER IF EXISTS {name} ON "{t}"'
            for t in tables
            for name in ("verdict_immutable_row", "verdict_immutable_truncate")
        ]
        if tables != IMMUTABLE_TABLES:  # the shared functions stay while other tables use them
            return drops
        return [
            *drops,
            "DROP FUNCTION IF EXISTS verdict_refuse_change()",
            "DROP FUNCTION IF EXISTS verdict_audit_seal_only()",
        ]
    return [
        f'DROP TRIGGER IF EXISTS "verdict_immutable_{op}_{t}"'
        for t in tables
        for op in ("upd", "del")
    ]


def expected(vendor: str) -> set[tuple[str, str]]:
    """(table, trigger name) pairs that must exist."""
    if vendor == "postgresql":
        names = ("verdict_immutable_row", "verdict_immutable_truncate")
        return {(t, n) for t in IMMUTABLE_TABLES for n in names}
    return {(t, f"verdict_immutable_{op}_{t}") for t in IMMUTABLE_TABLES for op in ("upd", "del")}


def installed(connection: Any) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgname LIKE 'verdict_immutable_%%' AND t.tgenabled <> 'D'"
            )
        else:
            cursor.execute(
                "SELECT tbl_name, name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'verdict_immutable_%'"
            )
        return {(row[0], row[1]) for row in cursor.fetchall()}


def missing(connection: Any) -> list[str]:
    """Triggers that should be there and are not (dropped or disabled), as `table.trigger`."""
    return sorted(f"{t}.{n}" for t, n in expected(connection.vendor) - installed(connection))


def install(connection: Any) -> None:
    with connection.cursor() as cursor:
        for sql in install_sql(connection.vendor):
            cursor.execute(sql)
