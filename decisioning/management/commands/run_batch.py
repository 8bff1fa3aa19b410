"""Start a batch and follow it with a progress bar.

By default (`--inline`, automatic without REDIS_URL) this process is the worker: it claims
chunks exactly as the Celery task does, so a second `run_batch --resume ID` (or a Celery worker)
can share or take over the work. With `--celery` it queues the batch on the `batches` queue and
only follows it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit.services import Actor
from config.errors import ApplicationError
from decisioning.batches import services
from decisioning.models import Batch, Product


class Command(BaseCommand):
    help = "Rescore a batch (stored decisions, a CSV or generated applications) with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", default="personal-loan")
        src = parser.add_mutually_exclusive_group()
        src.add_argument("--generated", type=int, metavar="N", help="N generated applications.")
        src.add_argument("--csv", help="A CSV of API-shaped applications.")
        src.add_argument("--stored", action="store_true", help="Stored decisions (see --from/--to).")
        src.add_argument("--resume", type=int, metavar="BATCH_ID", help="Work on / follow an existing batch.")
        parser.add_argument("--from", dest="date_from", type=dt.datetime.fromisoformat)
        parser.add_argument("--to", dest="date_to", type=dt.datetime.fromisoformat)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--ruleset-version", default="", help="What-if rule-set version label.")
        parser.add_argument("--model-version", default="", help="What-if model version.")
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--storage", choices=["copy", "bulk"], default=None, help="Default: COPY on PostgreSQL.")
        parser.add_argument("--celery", action="store_true", help="Queue on the batch workers and follow.")
        parser.add_argument("--nice", type=int, default=19,
                            help="CPU niceness of this process when it is the worker (default 19; 0: unchanged).")

    def handle(self, *args: Any, **o: Any) -> None:
        use_celery = o["celery"] and not settings.CELERY_TASK_ALWAYS_EAGER
        if o["resume"]:
            batch = Batch.objects.filter(pk=o["resume"]).first()
            if batch is None:
                raise CommandError(f"No batch {o['resume']}.")
        else:
            batch = self._create(o, dispatch=use_celery)
        self.stdout.write(f"Batch {batch.pk}: {batch.get_source_display().lower()} of {batch.product.code}")
        if not use_celery and batch.status == Batch.Status.QUEUED:
            services.batch_plan(batch_id=batch.pk)
        batch.refresh_from_db()
        bar = tqdm(total=batch.total, unit="app", unit_scale=True, desc=f"batch {batch.pk}",
                   disable=o["verbosity"] < 1, file=self.stderr._out)

        def refresh() -> None:
            b = Batch.objects.only("done", "total").get(pk=batch.pk)
            bar.total = b.total
            bar.update(b.done - bar.n)

        if use_celery:
            while Batch.objects.filter(pk=batch.pk, status__in=[Batch.Status.QUEUED, Batch.Status.RUNNING]).exists():
                refresh()
                time.sleep(0.5)
        else:
            if o["nice"] > 0:
                services.lower_priority(o["nice"])
            services.batch_work(batch_id=batch.pk, method=o["storage"], on_chunk=refresh)
        refresh()
        bar.close()
        batch.refresh_from_db()
        s = batch.summary or {}
        self.stdout.write(f"Status: {batch.status}; {batch.done:,} applications, {batch.errors:,} errors")
        if batch.status == Batch.Status.RUNNING:
            self.stdout.write("Other workers still hold chunks; follow with --resume or the admin.")
        if s:
            self.stdout.write("Outcomes: " + ", ".join(f"{k} {v:,}" for k, v in s["outcomes"].items()))
            if s.get("compared"):
                self.stdout.write(f"Flipped: {s['flipped']:,} of {s['compared']:,}; mean PD shift {s['score_shift']['mean_shift']}")
        if batch.throughput:
            self.stdout.write(f"Throughput: {batch.throughput:,.0f} applications/s")
        if batch.status == Batch.Status.FAILED:
            raise CommandError(batch.error or "batch failed")

    def _create(self, o: dict[str, Any], *, dispatch: bool) -> Batch:
        product = Product.objects.filter(code=o["product"]).first()
        if product is None:
            raise CommandError(f"No product {o['product']!r}.")
        source = Batch.Source.GENERATED if o["generated"] else Batch.Source.UPLOAD if o["csv"] else Batch.Source.STORED
        tz = dt.UTC
        kwargs: dict[str, Any] = {}
        if o["csv"]:
            kwargs["upload"] = open(o["csv"], "rb")  # noqa: SIM115  (closed below)
        try:
            return services.batch_create(
                product=product, source=source, actor=Actor.system("run_batch"),
                date_from=o["date_from"].replace(tzinfo=o["date_from"].tzinfo or tz) if o["date_from"] else None,
                date_to=o["date_to"].replace(tzinfo=o["date_to"].tzinfo or tz) if o["date_to"] else None,
                generate_count=o["generated"], seed=o["seed"], ruleset_version=o["ruleset_version"],
                model_version=o["model_version"], chunk_size=o["chunk_size"], dispatch=dispatch, **kwargs,
            )
        except ApplicationError as e:
            raise CommandError(f"{e.message} {e.errors}") from e
        finally:
            if "upload" in kwargs:
                kwargs["upload"].close()
