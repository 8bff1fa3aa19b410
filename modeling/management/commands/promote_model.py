"""`manage.py promote_model --product personal-loan --model-version 3 --by max --rationale "..."`:
promote a shadowing challenger to champion through the promotion gate (refused if not met)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from config.errors import ApplicationError
from modeling.management.commands import _modelops as ops
from modeling.services import model_promote


class Command(BaseCommand):
    help = "Promote a challenger to champion (gated, audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        ops.add_common(parser)
        parser.add_argument(
            "--model-version", required=True, help="The challenger's registry version."
        )
        parser.add_argument("--rationale", required=True, help="Why (recorded in the audit trail).")

    def handle(self, *args: Any, **o: Any) -> None:
        user = ops.manager(o["by"])
        try:
            done = model_promote(
                product=ops.product(o["product"]),
                version=o["model_version"],
                actor=Actor.for_user(user),
                user=user,
                rationale=o["rationale"],
                now=ops.when(o["now"]),
            )
        except ApplicationError as e:
            raise CommandError(
                e.message + "".join(f" {' '.join(v)}" for v in e.errors.values())
            ) from e
        self.stdout.write(f"{o['product']}: champion v{done.from_version} -> v{done.to_version}")
