from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from decisioning.models import IntegrationClient, Product
from decisioning.payloads import request_body
from modeling.synthetic import DriftSpec, generate


class Command(BaseCommand):
    help = (
        "Generate realistic synthetic UK loan applications (seedable, optional drift). "
        "Write them as JSON lines, and/or decide them through the real decision pipeline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=100)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--product", default="personal-loan")
        parser.add_argument("--days", type=float, default=30.0, help="Spread submissions over the last N days.")
        parser.add_argument("--out", help="Write API request bodies (+ ground truth) as JSON lines here.")
        parser.add_argument("--decide", action="store_true", help="Decide each through the pipeline.")
        parser.add_argument("--client", default="demo-origination", help="Integration client deciding.")
        parser.add_argument("--backdate", action="store_true", help="Stamp decisions with the generated submission time.")
        parser.add_argument("--drift-income", type=float, default=1.0, help="Income multiplier, e.g. 0.8.")
        parser.add_argument("--drift-bureau", type=float, default=0.0, help="Bureau score shift, e.g. -40.")
        parser.add_argument("--drift-other-share", type=float, default=None, help="Share of purpose 'other'.")

    def handle(self, *args: Any, **o: Any) -> None:
        if o["count"] < 1 or o["count"] > 5_000_000:
            raise CommandError("--count must be between 1 and 5,000,000.")
        drift = None
        if o["drift_income"] != 1.0 or o["drift_bureau"] or o["drift_other_share"] is not None:
            drift = DriftSpec(
                income_multiplier=o["drift_income"],
                bureau_score_shift=o["drift_bureau"],
                other_purpose_share=o["drift_other_share"],
            )
        end = timezone.now()
        cases = generate(o["count"], seed=o["seed"], start=end - dt.timedelta(days=o["days"]), end=end, drift=drift)
        if o["out"]:
            with open(o["out"], "w") as f:
                for i, case in enumerate(cases):
                    body = request_body(case.app, product=o["product"], reference=f"GEN-{o['seed']}-{i:07d}")
                    f.write(json.dumps({"request": body, "true_pd": case.true_pd, "defaulted": case.defaulted}) + "\n")
            self.stdout.write(f"Wrote {len(cases):,} applications to {o['out']}")
        if not o["decide"]:
            return

        from decisioning.services import decision_create

        product = Product.objects.filter(code=o["product"]).first()
        client = IntegrationClient.objects.filter(name=o["client"]).first()
        if product is None or client is None:
            raise CommandError(f"Need product {o['product']!r} and client {o['client']!r} (run seed_demo).")
        counts: dict[str, int] = {}
        started = time.perf_counter()
        for i, case in enumerate(tqdm(cases, desc="Deciding", unit="app", disable=o["verbosity"] < 1)):
            reference = f"GEN-{o['seed']}-{i:07d}"
            result = decision_create(
                client=client,
                product=product,
                application=case.app,
                reference=reference,
                request_body=request_body(case.app, product=product.code, reference=reference),
                request_id=f"generate-{o['seed']}-{i}",
                now=case.app.submitted_at if o["backdate"] and case.app.submitted_at else None,
            )
            counts[result.decision.outcome] = counts.get(result.decision.outcome, 0) + 1
        elapsed = time.perf_counter() - started
        summary = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
        self.stdout.write(f"Decided {len(cases):,} in {elapsed:.1f} s ({len(cases) / elapsed:,.0f}/s) — {summary}")
