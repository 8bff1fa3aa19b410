from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from audit.services import chain_seal


class Command(BaseCommand):
    help = "Chain (seal) the audit events written since the last seal; --every N keeps doing it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--every", type=float, default=0.0, help="seconds between seals (loop)")

    def handle(self, *args: Any, **options: Any) -> None:
        every = options["every"]
        while True:
            n = chain_seal()
            if n or not every:
                self.stdout.write(f"sealed {n} events")
            if not every:
                return
            time.sleep(every)
