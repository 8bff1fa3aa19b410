from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.models import RuleSetVersion
from decisioning.rules import services


class Command(BaseCommand):
    help = "Run the test cases of rule-set versions (a label, or every draft/submitted/published one of a product)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("labels", nargs="*", help="Version labels, e.g. personal-loan-v3.")
        parser.add_argument("--product", help="All non-retired versions of this product.")

    def handle(self, *args: Any, **o: Any) -> None:
        qs = RuleSetVersion.objects.select_related("rule_set__product")
        if o["labels"]:
            versions = list(qs.filter(label__in=o["labels"]))
            unknown = set(o["labels"]) - {v.label for v in versions}
            if unknown:
                raise CommandError(f"Unknown version(s): {', '.join(sorted(unknown))}")
        elif o["product"]:
            versions = list(
                qs.filter(rule_set__product__code=o["product"]).exclude(status="retired")
            )
        else:
            raise CommandError("Name version labels or --product.")
        failed = 0
        for version in versions:
            report = services.ruleset_run_tests(version=version, user=None)
            self.stdout.write(
                f"{version.label} ({version.status}): {report['passed']}/{report['total']} passed"
            )
            for r in report["results"]:
                if not r["passed"]:
                    got = r.get("outcome", "") + " " + ", ".join(r.get("reasons", []))
                    self.stdout.write(
                        f"  FAIL {r['name']}: expected {r.get('expected_outcome', '')} "
                        f"{', '.join(r.get('expected_reasons', []))}, got {got.strip()} {r.get('error', '')}"
                    )
            failed += report["failed"] + (1 if report["total"] == 0 else 0)
        if failed:
            raise CommandError(f"{failed} test case(s) failed (or versions without any).")
