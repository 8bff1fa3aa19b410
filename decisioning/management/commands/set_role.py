from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from config.errors import ApplicationError
from decisioning import role_services, roles


class Command(BaseCommand):
    help = "Grant (or with --revoke, revoke) a staff role; recorded in the audit trail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="Username.")
        parser.add_argument("role", help=f"One of: {', '.join(roles.ALL_ROLES)}.")
        parser.add_argument("--revoke", action="store_true", help="Revoke the role instead.")

    def handle(self, *args: Any, user: str, role: str, revoke: bool, **options: Any) -> None:
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user {user!r}.")
        service = role_services.role_revoke if revoke else role_services.role_grant
        try:
            service(user=account, role=role, actor=Actor.system("manage.py set_role"))
        except ApplicationError as e:
            raise CommandError(e.message) from e
        self.stdout.write(
            f"{'Revoked' if revoke else 'Granted'} {role} {'from' if revoke else 'to'} {user}."
        )
