from __future__ import annotations

import importlib
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_roles(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Recreate the role groups, their model permissions and the reason-code catalogue if they
    are missing.

    Migrations 0002 and 0006 create them once; a database flush (tests, `manage.py flush`)
    empties the auth tables and Django answers with post_migrate, so the roles come back the same
    way content types and permissions do. Idempotent; reads the same tables as the migrations.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles = importlib.import_module("decisioning.migrations.0002_roles").MODEL_PERMS
    rulesets = importlib.import_module("decisioning.migrations.0006_ruleset_roles_and_reasons").PERMS
    for role, perms in roles.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        wanted = [(app_label, f"{action}_{model}") for action, app_label, model in perms]
        wanted += [("decisioning", f"{action}_{model}") for action, model in rulesets.get(role, [])]
        for app_label, codename in wanted:
            permission = Permission.objects.using(using).filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                group.permissions.add(permission)
    from decisioning.models import ReasonCode

    for code, text in rulesets_module_reasons().items():
        if not ReasonCode.objects.using(using).filter(code=code).exists():
            ReasonCode.objects.using(using).create(code=code, customer_text=text)


def rulesets_module_reasons() -> dict[str, str]:
    module = importlib.import_module("decisioning.migrations.0006_ruleset_roles_and_reasons")
    return dict(module.REASONS)


class DecisioningConfig(AppConfig):
    name = "decisioning"
    verbose_name = "Decisioning"

    def ready(self) -> None:
        # Registers the django-rules permissions for every app (one table of who may do what).
        from decisioning import permissions  # noqa: F401

        # It creates any missing permissions itself, so it need not run after the other apps.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="decisioning.ensure_roles")
