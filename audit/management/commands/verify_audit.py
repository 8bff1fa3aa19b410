from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.verification import verification_run_now


class Command(BaseCommand):
    help = (
        "Seal pending audit events, recompute the whole hash chain, check the immutability "
        "triggers, record the verification, and name the first event that does not match."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        run = verification_run_now(user=None, source="cli")
        if not run.ok:
            if run.first_bad_seq is not None:
                where = f"event #{run.first_bad_seq} (chain position {run.first_bad_position})"
            elif run.first_bad_position is not None:
                where = f"chain position {run.first_bad_position}"
            else:
                where = "the triggers"
            raise CommandError(
                f"Audit chain BROKEN at {where}: {run.problem} "
                f"({run.checked:,} events verified before it; verification {run.pk})."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {run.checked:,} events verified; head #{run.head_seq} "
                f"{run.head_hash[:16]}…; all immutability triggers installed (verification {run.pk})."
            )
        )
