from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import chain_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain and name the first event that does not match."

    def handle(self, *args: Any, **options: Any) -> None:
        result = chain_verify()
        if not result.ok:
            raise CommandError(
                f"Audit chain BROKEN at event #{result.first_bad_seq}: {result.problem} "
                f"({result.checked:,} events verified before it)."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {result.checked:,} events verified."))
