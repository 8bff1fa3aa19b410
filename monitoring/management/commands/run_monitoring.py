from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from decisioning.models import Product
from monitoring.services import aligned_window, monitoring_run, parse_window


class Command(BaseCommand):
    help = (
        "Run the monitoring checks (drift, data quality, volume, latency, overrides, outcomes) for "
        "the last complete window of each active product — or the one given — and raise alerts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", help="Product code (default: every active product).")
        parser.add_argument("--window", default="24h", help="Window length: 15m, 1h, 24h, 7d … (default 24h).")
        parser.add_argument("--backfill", type=int, default=1, help="Also run the N-1 windows before it.")
        parser.add_argument(
            "--include-current", action="store_true",
            help="Measure the window that is still open (ending at the next boundary) — demos.",
        )

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            length = parse_window(o["window"])
        except ValueError as e:
            raise CommandError(str(e)) from e
        products = Product.objects.filter(is_active=True)
        if o["product"]:
            products = Product.objects.filter(code=o["product"])
            if not products.exists():
                raise CommandError(f"No product {o['product']!r}.")
        _, end = aligned_window(o["window"], now=timezone.now())
        if o["include_current"]:
            end += length
        for product in products:
            for i in reversed(range(max(1, o["backfill"]))):
                run = monitoring_run(product=product, window=o["window"], end=end - i * length)
                self.stdout.write(
                    f"{product.code} {o['window']} {run.window_start:%Y-%m-%d %H:%M}-{run.window_end:%H:%M} UTC: "
                    f"{run.decisions} decisions, {run.points} points, {run.alerts_opened} alerts opened"
                    + (f" ({'; '.join(run.notes)})" if run.notes else "")
                )
