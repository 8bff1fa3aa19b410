"""Database-enforced immutability of rule-set versions (docs/rules.md, "Lifecycle").

A version that is not a draft keeps its content forever: its content columns cannot be updated,
it cannot be deleted, and its rules and test cases cannot be inserted, updated or deleted. Status
may only move draft → submitted → (draft | published) and published → retired. The services and
the admin refuse the same things first; these triggers make raw SQL refuse them too.
"""

from django.db import migrations

CONTENT = ("rule_set_id", "number", "label", "approve_max_pd", "decline_min_pd", "reason_texts",
           "content_hash", "change_summary", "based_on_id")
TRANSITION_OK = (
    "OLD.status = NEW.status"
    " OR (OLD.status = 'draft' AND NEW.status = 'submitted')"
    " OR (OLD.status = 'submitted' AND NEW.status IN ('draft', 'published'))"
    " OR (OLD.status = 'published' AND NEW.status = 'retired')"
)
CHILDREN = ("decisioning_ruledefinition", "decisioning_rulesettestcase")
STATUS_OF = "(SELECT status FROM decisioning_rulesetversion WHERE id = {}.version_id)"

SQLITE = [
    "CREATE TRIGGER decisioning_rsv_content_frozen BEFORE UPDATE ON decisioning_rulesetversion "
    "FOR EACH ROW WHEN OLD.status <> 'draft' AND ("
    + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CONTENT)
    + ") BEGIN SELECT RAISE(ABORT, 'rule-set version is not a draft: its content is immutable'); END",
    "CREATE TRIGGER decisioning_rsv_status_transition BEFORE UPDATE OF status ON decisioning_rulesetversion "
    f"FOR EACH ROW WHEN NOT ({TRANSITION_OK}) "
    "BEGIN SELECT RAISE(ABORT, 'invalid rule-set version status transition'); END",
    "CREATE TRIGGER decisioning_rsv_no_delete BEFORE DELETE ON decisioning_rulesetversion "
    "FOR EACH ROW WHEN OLD.status <> 'draft' "
    "BEGIN SELECT RAISE(ABORT, 'rule-set version is not a draft: it cannot be deleted'); END",
]
for table in CHILDREN:
    SQLITE += [
        f"CREATE TRIGGER {table}_frozen_insert BEFORE INSERT ON {table} "
        f"FOR EACH ROW WHEN {STATUS_OF.format('NEW')} <> 'draft' "
        "BEGIN SELECT RAISE(ABORT, 'rule-set version is not a draft: its rules and test cases are immutable'); END",
        f"CREATE TRIGGER {table}_frozen_update BEFORE UPDATE ON {table} "
        f"FOR EACH ROW WHEN {STATUS_OF.format('OLD')} <> 'draft' OR {STATUS_OF.format('NEW')} <> 'draft' "
        "BEGIN SELECT RAISE(ABORT, 'rule-set version is not a draft: its rules and test cases are immutable'); END",
        f"CREATE TRIGGER {table}_frozen_delete BEFORE DELETE ON {table} "
        f"FOR EACH ROW WHEN {STATUS_OF.format('OLD')} <> 'draft' "
        "BEGIN SELECT RAISE(ABORT, 'rule-set version is not a draft: its rules and test cases are immutable'); END",
    ]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS decisioning_rsv_content_frozen",
    "DROP TRIGGER IF EXISTS decisioning_rsv_status_transition",
    "DROP TRIGGER IF EXISTS decisioning_rsv_no_delete",
] + [f"DROP TRIGGER IF EXISTS {t}_frozen_{op}" for t in CHILDREN for op in ("insert", "update", "delete")]

_new = ", ".join(f"NEW.{c}" for c in CONTENT)
_old = ", ".join(f"OLD.{c}" for c in CONTENT)
POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION decisioning_rsv_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'rule-set version % is %: it cannot be deleted', OLD.label, OLD.status
                USING ERRCODE = '23514';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND ROW({_new}) IS DISTINCT FROM ROW({_old}) THEN
        RAISE EXCEPTION 'rule-set version % is %: its content is immutable', OLD.label, OLD.status
            USING ERRCODE = '23514';
    END IF;
    IF NOT ({TRANSITION_OK}) THEN
        RAISE EXCEPTION 'invalid rule-set version status transition % -> %', OLD.status, NEW.status
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$""",
    "CREATE TRIGGER decisioning_rsv_guard BEFORE UPDATE OR DELETE ON decisioning_rulesetversion "
    "FOR EACH ROW EXECUTE FUNCTION decisioning_rsv_guard()",
    """
CREATE OR REPLACE FUNCTION decisioning_rsv_child_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND
       (SELECT status FROM decisioning_rulesetversion WHERE id = OLD.version_id) <> 'draft' THEN
        RAISE EXCEPTION 'rule-set version is not a draft: its rules and test cases are immutable'
            USING ERRCODE = '23514';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND
       (SELECT status FROM decisioning_rulesetversion WHERE id = NEW.version_id) <> 'draft' THEN
        RAISE EXCEPTION 'rule-set version is not a draft: its rules and test cases are immutable'
            USING ERRCODE = '23514';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$""",
] + [
    f"CREATE TRIGGER {t}_guard BEFORE INSERT OR UPDATE OR DELETE ON {t} "
    "FOR EACH ROW EXECUTE FUNCTION decisioning_rsv_child_guard()"
    for t in CHILDREN
]
POSTGRES_DROP = [f"DROP TRIGGER IF EXISTS {t}_guard ON {t}" for t in CHILDREN] + [
    "DROP TRIGGER IF EXISTS decisioning_rsv_guard ON decisioning_rulesetversion",
    "DROP FUNCTION IF EXISTS decisioning_rsv_child_guard()",
    "DROP FUNCTION IF EXISTS decisioning_rsv_guard()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(f"No rule-set immutability triggers for {schema_editor.connection.vendor}")
        for sql in statements:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("decisioning", "0004_rulesets")]
    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        )
    ]
