from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from audit.exports import ExportFilter, export_queryset, export_to_directory
from audit.services import Actor


def _when(value: str | None) -> dt.datetime | None:
    """An ISO date (midnight UTC) or datetime (naive means UTC)."""
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"not a date or datetime: {value!r}")
        moment = dt.datetime.combine(day, dt.time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Export decisions (by date range, product or ids) as decisions.jsonl + decisions.csv + "
        "manifest.json (counts, SHA-256 of each file, chain head). The export is an audit event."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", required=True, help="directory to write into")
        parser.add_argument(
            "--from", dest="date_from", help="created at or after (ISO date/datetime, UTC)"
        )
        parser.add_argument("--to", dest="date_to", help="created before (ISO date/datetime, UTC)")
        parser.add_argument("--product", help="product code")
        parser.add_argument(
            "--id", dest="ids", action="append", default=[], help="decision id (repeatable)"
        )
        parser.add_argument(
            "--personal-data",
            action="store_true",
            help="include names, date of birth and postcode (recorded in the manifest)",
        )
        parser.add_argument(
            "--by", default="cli", help="who is exporting (recorded on the audit event)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        f = ExportFilter(
            date_from=_when(options["date_from"]),
            date_to=_when(options["date_to"]),
            product=options["product"],
            decision_ids=tuple(options["ids"]),
            personal_data=options["personal_data"],
        )
        # The bar goes to stderr, so stdout stays one line of JSON for scripts.
        bar = tqdm(
            total=export_queryset(f).count(),
            desc="Exporting",
            unit=" decisions",
            unit_scale=True,
            file=self.stderr._out,  # the raw stream: OutputWrapper would add a newline per update
            disable=options["verbosity"] < 1 or options["no_progress"],
            mininterval=1.0,
        )
        with bar:
            manifest = export_to_directory(
                f=f,
                directory=Path(options["out"]),
                actor=Actor.system(options["by"]),
                progress=bar.update,
            )
        files = manifest["files"]
        self.stdout.write(
            json.dumps(
                {
                    "records": files["decisions.jsonl"]["records"],
                    "out": options["out"],
                    "audit_event": manifest["audit_event"],
                    "chain_head": manifest["chain_head"],
                }
            )
        )
