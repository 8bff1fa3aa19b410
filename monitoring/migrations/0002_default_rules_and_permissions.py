"""Seed the default alert rules (thresholds explained in monitoring/defaults.py) and let the staff
roles see the monitoring admin: risk managers edit rules and notification targets, auditors read.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copy of monitoring.defaults.DEFAULT_RULES at the time of this migration.
RULES = (
    ("Feature PSI moderate shift", "feature_psi", "gte", 0.10, "warning", 100),
    ("Feature PSI significant shift", "feature_psi", "gte", 0.25, "critical", 100),
    ("Feature KS shift (numeric)", "feature_ks", "gte", 0.15, "warning", 100),
    ("Feature chi-square shift (categorical)", "feature_chi2_p", "lte", 0.001, "warning", 200),
    ("Score PSI moderate shift", "score_psi", "gte", 0.10, "warning", 100),
    ("Score PSI significant shift", "score_psi", "gte", 0.25, "critical", 100),
    ("Missing rate up 5 points", "missing_rate_change", "gte", 0.05, "warning", 50),
    ("Out-of-range values", "out_of_range_rate", "gte", 0.01, "critical", 50),
    ("Unseen categories", "unseen_category_rate", "gte", 0.01, "warning", 50),
    ("Approval rate shift", "approve_rate_shift", "abs_gte", 0.10, "warning", 100),
    ("Decline rate shift", "decline_rate_shift", "abs_gte", 0.10, "warning", 100),
    ("Refer rate shift", "refer_rate_shift", "abs_gte", 0.10, "warning", 100),
    ("Volume dropped to half", "volume_ratio", "lte", 0.5, "warning", 0),
    ("Volume doubled", "volume_ratio", "gte", 2.0, "warning", 0),
    ("Latency P95 above SLO", "latency_p95_ms", "gte", 200.0, "critical", 20),
    ("Latency P99 above SLO", "latency_p99_ms", "gte", 500.0, "critical", 100),
    ("Override rate high", "override_rate", "gte", 0.20, "warning", 20),
    ("AUC degraded", "auc", "lte", 0.65, "warning", 200),
    ("Under-predicting defaults", "calibration_ratio", "gte", 1.5, "warning", 200),
    ("Over-predicting defaults", "calibration_ratio", "lte", 0.67, "warning", 200),
)

EDIT = ("alertrule", "notificationtarget")
READ = ("alert", "alertnotification", "metricpoint", "monitoringrun", "baseline")
PERMS = {
    "risk_manager": [("view", m) for m in EDIT + READ] + [(a, m) for a in ("add", "change") for m in EDIT],
    "auditor": [("view", m) for m in EDIT + READ],
}


def seed_rules(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    for name, metric, op, threshold, severity, min_count in RULES:
        AlertRule.objects.get_or_create(
            name=name,
            defaults={"metric": metric, "operator": op, "threshold": threshold, "severity": severity,
                      "min_count": min_count},
        )


def grant(apps, schema_editor):
    app_config = apps.get_app_config("monitoring")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in PERMS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for action, model in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label="monitoring", codename=f"{action}_{model}")
            )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.RunPython(seed_rules, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
