"""Seed the alert rules of the unsealed-event backlog (monitoring.defaults, audit.backlog)."""

from django.db import migrations

# Frozen copy of the audit rows of monitoring.defaults.DEFAULT_RULES at the time of this migration.
RULES = (
    ("Audit sealing behind (15 s)", "audit_unsealed_age_s", "gte", 15.0, "warning", 0),
    ("Audit sealing stopped (2 min)", "audit_unsealed_age_s", "gte", 120.0, "critical", 0),
)


def seed_rules(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    for name, metric, op, threshold, severity, min_count in RULES:
        AlertRule.objects.get_or_create(
            name=name,
            defaults={
                "metric": metric,
                "operator": op,
                "threshold": threshold,
                "severity": severity,
                "min_count": min_count,
                "cooldown_minutes": 10,
                "description": "The sealer chains events every second; a decision waiting this "
                "long is not yet provable. See docs/audit.md.",
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_user_group_history"),
        ("monitoring", "0002_default_rules_and_permissions"),
    ]

    operations = [migrations.RunPython(seed_rules, migrations.RunPython.noop)]
