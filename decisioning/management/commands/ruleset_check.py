from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from decisioning.models import RuleSetVersion
from decisioning.rules import services


class Command(BaseCommand):
    help = "Run the static checks of rule-set versions; exit non-zero if any error is found."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("labels", nargs="+", help="Version labels, e.g. personal-loan-v3.")

    def handle(self, *args: Any, **o: Any) -> None:
        versions = list(RuleSetVersion.objects.filter(label__in=o["labels"]))
        if len(versions) != len(set(o["labels"])):
            raise CommandError("Unknown version label.")
        n_errors = 0
        for version in versions:
            with transaction.atomic():
                findings = services.ruleset_check(version=version)
            self.stdout.write(f"{version.label}: {len(findings)} finding(s)")
            for f in findings:
                self.stdout.write(f"  {f.severity}: {f.message}")
            n_errors += sum(1 for f in findings if f.severity == "error")
        if n_errors:
            raise CommandError(f"{n_errors} error(s).")
