"""Reviewers' acts and challengers' shadow scores become append-only in the database too."""

from django.db import migrations


def install(apps, schema_editor):
    from audit.immutable import EVIDENCE_TABLES
    from audit.triggers import install_sql

    for sql in install_sql(schema_editor.connection.vendor, EVIDENCE_TABLES):
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    from audit.immutable import EVIDENCE_TABLES
    from audit.triggers import uninstall_sql

    for sql in uninstall_sql(schema_editor.connection.vendor, EVIDENCE_TABLES):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_immutability_triggers"),
        ("reviews", "0002_review_workflow"),
        ("modeling", "0001_initial"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
