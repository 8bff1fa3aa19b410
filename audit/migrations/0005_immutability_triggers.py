"""UPDATE / DELETE (and on PostgreSQL TRUNCATE) on decision evidence and audit events are
refused by the database itself. See audit/triggers.py and docs/audit.md."""

from django.db import migrations


def install(apps, schema_editor):
    from audit.immutable import CORE_TABLES
    from audit.triggers import install_sql

    for sql in install_sql(schema_editor.connection.vendor, CORE_TABLES):
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    from audit.immutable import CORE_TABLES
    from audit.triggers import uninstall_sql

    for sql in uninstall_sql(schema_editor.connection.vendor, CORE_TABLES):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_chain_sealing"),
        ("decisioning", "0003_product_four_eyes_client_webhook_secret"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
