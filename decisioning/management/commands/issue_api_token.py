from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from decisioning import services
from decisioning.models import IntegrationClient


class Command(BaseCommand):
    help = "Issue an API token for an integration client (printed once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="Integration client name.")
        parser.add_argument("--create", action="store_true", help="Create the client if missing.")
        parser.add_argument("--label", default="cli")

    def handle(self, *args: Any, client: str, create: bool, label: str, **options: Any) -> None:
        obj = IntegrationClient.objects.filter(name=client).first()
        if obj is None:
            if not create:
                raise CommandError(f"No integration client {client!r}; pass --create to create it.")
            obj = IntegrationClient.objects.create(name=client)
        _token, raw = services.api_token_issue(client=obj, actor=Actor.system("manage.py issue_api_token"), label=label)
        self.stdout.write(raw)
