"""`manage.py shadow_model --product personal-loan --model-version 3 --by max [--stop]`: start (or stop)
shadowing a registered version as a challenger. Its shadow window starts when it starts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from config.errors import ApplicationError
from modeling.management.commands import _modelops as ops
from modeling.services import challenger_start, challenger_stop, shadow_backfill


class Command(BaseCommand):
    help = "Start or stop a challenger's shadow scoring; --backfill scores decisions it missed."

    def add_arguments(self, parser: CommandParser) -> None:
        ops.add_common(parser)
        parser.add_argument(
            "--model-version", required=True, help="Registry version of verdict-<product>."
        )
        parser.add_argument("--rationale", default="")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--stop", action="store_true")
        group.add_argument("--backfill", action="store_true")

    def handle(self, *args: Any, **o: Any) -> None:
        user = ops.manager(o["by"])
        product, actor, now = ops.product(o["product"]), Actor.for_user(user), ops.when(o["now"])
        try:
            if o["backfill"]:
                n = shadow_backfill(product=product, version=o["model_version"])
                self.stdout.write(f"scored {n} missed decisions")
            elif o["stop"]:
                challenger_stop(
                    product=product,
                    version=o["model_version"],
                    actor=actor,
                    rationale=o["rationale"],
                    now=now,
                )
                self.stdout.write(f"v{o['version']} no longer shadows {product.code}")
            else:
                row = challenger_start(
                    product=product,
                    version=o["model_version"],
                    actor=actor,
                    user=user,
                    rationale=o["rationale"],
                    now=now,
                )
                self.stdout.write(
                    f"v{row.model_version} shadows {product.code} from {row.started_at.isoformat()}"
                )
        except ApplicationError as e:
            raise CommandError(e.message) from e
