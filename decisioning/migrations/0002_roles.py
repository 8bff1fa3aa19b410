"""The staff roles as groups, with the Django model permissions the admin needs.

Finer rights (publish a rule set, approve an override…) are django-rules predicates on group
membership (decisioning/permissions.py), not rows here.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_ALL = [
    ("decisioning", m) for m in ("product", "integrationclient", "apitoken", "application", "decision", "loanoutcome")
] + [("audit", "auditevent"), ("reviews", "reviewcase")]

MODEL_PERMS = {
    "underwriter": [],
    "senior_underwriter": [],
    "risk_analyst": [("view", a, m) for a, m in VIEW_ALL if m not in ("apitoken",)],
    "risk_manager": [("view", a, m) for a, m in VIEW_ALL]
    + [("change", "decisioning", "product"), ("add", "decisioning", "product"),
       ("change", "decisioning", "integrationclient"), ("add", "decisioning", "integrationclient")],
    "auditor": [("view", a, m) for a, m in VIEW_ALL],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in MODEL_PERMS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for action, app_label, model in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=f"{action}_{model}")
            )


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(MODEL_PERMS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("decisioning", "0001_initial"),
        ("audit", "0001_initial"),
        ("reviews", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, drop_roles)]
