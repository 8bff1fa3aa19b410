"""`manage.py rollback_model --product personal-loan --by max --rationale "..."`: put the previous
champion back (no gate: it is the way out of a bad promotion); audited as `model.rolled_back`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from config.errors import ApplicationError
from modeling.management.commands import _modelops as ops
from modeling.services import model_rollback


class Command(BaseCommand):
    help = "Roll a product back to its previous champion model (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        ops.add_common(parser)
        parser.add_argument("--rationale", required=True, help="Why (recorded in the audit trail).")

    def handle(self, *args: Any, **o: Any) -> None:
        user = ops.manager(o["by"])
        try:
            done = model_rollback(
                product=ops.product(o["product"]),
                actor=Actor.for_user(user),
                user=user,
                rationale=o["rationale"],
                now=ops.when(o["now"]),
            )
        except ApplicationError as e:
            raise CommandError(e.message) from e
        self.stdout.write(
            f"{o['product']}: champion v{done.from_version} -> v{done.to_version} (rolled back)"
        )
