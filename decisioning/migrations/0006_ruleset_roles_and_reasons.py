"""Model permissions for the rule-set admin, and the reason-code catalogue seeded from the codes
the engine already uses (their wording is then managed in the admin).

Finer rights (edit a draft, publish) are django-rules predicates checked by the admin and the
services; these rows only let the Django admin show the pages to the staff roles.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDIT = ("rulesetversion", "ruledefinition", "rulesettestcase")
READ = ("ruleset", "reasoncode", "rulesetsimulation")
PERMS = {
    "risk_analyst": [("view", m) for m in EDIT + READ]
    + [(a, m) for a in ("add", "change", "delete") for m in EDIT]
    + [("add", "rulesetsimulation")],
    "risk_manager": [("view", m) for m in EDIT + READ]
    + [(a, m) for a in ("add", "change", "delete") for m in EDIT]
    + [("add", "rulesetsimulation"), ("add", "ruleset"), ("add", "reasoncode"), ("change", "reasoncode")],
    "auditor": [("view", m) for m in EDIT + READ],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in PERMS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for action, model in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label="decisioning", codename=f"{action}_{model}")
            )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{a}_{m}" for a in ("view", "add", "change", "delete") for m in EDIT + READ]
    for group in apps.get_model("auth", "Group").objects.filter(name__in=list(PERMS)):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="decisioning", codename__in=codenames)
        )


# Frozen copy of decisioning.engine.reasons.REASONS at the time of this migration.
REASONS = {'SANCTIONS_HIT': 'We are unable to offer you credit at this time.',
 'PEP_MATCH': 'We need to carry out some additional checks on your application.',
 'KYC_FAILED': 'We could not verify your identity.',
 'KYC_REFER': 'We need to carry out some additional checks to verify your identity.',
 'NOT_UK_RESIDENT': 'You need to be a UK resident to apply for this product.',
 'UNDER_18': 'You need to be 18 or over to apply.',
 'BANKRUPTCY_IVA': 'Your credit file shows a bankruptcy or an individual voluntary arrangement.',
 'UNAFFORDABLE': 'The repayments would not be affordable based on your income and outgoings.',
 'RECENT_CCJ': 'Your credit file shows a recent county court judgment.',
 'FRAUD_RISK': 'We need to carry out some additional checks on your application.',
 'PD_ABOVE_CUTOFF': 'Based on the information we hold, your application does not meet our lending criteria.',
 'PD_REFER_BAND': 'An underwriter will review your application.',
 'MISSING_BUREAU': 'We could not obtain your credit file; an underwriter will review your application.',
 'MISSING_KYC': 'We could not complete identity checks; an underwriter will review your application.',
 'MISSING_SANCTIONS': 'We could not complete our checks; an underwriter will review your application.',
 'MISSING_FRAUD': 'We could not complete our checks; an underwriter will review your application.',
 'MODEL_UNAVAILABLE': 'An underwriter will review your application.',
 'RULE_ERROR': 'An underwriter will review your application.',
 'AMOUNT_CAPPED': 'We can offer you a lower amount than you asked for.'}


def seed_reasons(apps, schema_editor):
    ReasonCode = apps.get_model("decisioning", "ReasonCode")
    for code, text in REASONS.items():
        ReasonCode.objects.get_or_create(code=code, defaults={"customer_text": text})


class Migration(migrations.Migration):
    dependencies = [
        ("decisioning", "0005_ruleset_immutability"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.RunPython(grant, revoke),
        migrations.RunPython(seed_reasons, migrations.RunPython.noop),
    ]
