from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.replay import decision_replay_record
from audit.services import Actor
from decisioning.models import Decision


class Command(BaseCommand):
    help = (
        "Re-run a stored decision from its stored inputs, signals, rule-set version and model "
        "version (no external calls) and compare outcome, PD (bit for bit), reasons and every "
        "rule result. Exits non-zero on any difference. Each replay is recorded as a "
        "decision.replayed audit event."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("decision_id", nargs="+")
        parser.add_argument("--json", action="store_true", help="print the full result as JSON")
        parser.add_argument(
            "--by", default="cli", help="who is replaying (recorded on the audit event)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failed = []
        for decision_id in options["decision_id"]:
            try:
                decision = Decision.objects.select_related("application", "product").get(
                    pk=decision_id
                )
            except (Decision.DoesNotExist, ValidationError, ValueError) as e:
                raise CommandError(f"decision {decision_id} not found") from e
            result = decision_replay_record(decision=decision, actor=Actor.system(options["by"]))
            if options["json"]:
                self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))
            elif result.matches:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{decision_id}: replay matches — {result.outcome}, PD {result.pd!r} "
                        f"(0x{result.pd_bits or '-'}), rule set {result.ruleset_version}, "
                        f"model {result.model or 'none'}"
                    )
                )
            else:
                self.stdout.write(self.style.ERROR(f"{decision_id}: replay DIFFERS"))
                if result.error:
                    self.stdout.write(f"  cannot replay: {result.error}")
                for d in result.differences:
                    self.stdout.write(
                        f"  {d.field}:\n    stored:   {d.stored}\n    replayed: {d.replayed}"
                    )
            if not result.matches:
                failed.append(decision_id)
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(options['decision_id'])} decisions did not replay identically"
            )
