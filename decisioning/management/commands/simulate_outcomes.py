from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from decisioning import services
from decisioning.models import Decision, LoanOutcome
from decisioning.signals.gateway import signals_from_stored
from decisioning.snapshots import application_data


class Command(BaseCommand):
    help = (
        "DEMO/TEST ONLY: report synthetic loan outcomes for approved decisions that have none, "
        "drawn from the generator's ground-truth PD (meaningless for real applicants)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", default="personal-loan")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--horizon-days", type=int, default=365, help="When the outcome is observed.")

    def handle(self, *args: Any, **o: Any) -> None:
        decisions = list(
            Decision.objects.filter(product__code=o["product"], outcome=Decision.OutcomeChoice.APPROVE)
            .exclude(pk__in=LoanOutcome.objects.values("decision_id"))
            .select_related("application", "client")
            .order_by("created_at", "id")
        )
        if not decisions:
            raise CommandError("No approved decisions without an outcome.")
        from modeling.synthetic import true_pd_for

        cases = [(application_data(d.application), signals_from_stored(d.signals), d.created_at.date()) for d in decisions]
        pd = true_pd_for(cases)
        rng = np.random.default_rng(o["seed"])
        bad = rng.random(len(decisions)) < pd
        today = timezone.now().date()
        for decision, is_bad in tqdm(list(zip(decisions, bad, strict=True)), desc="Outcomes", unit="loan", disable=o["verbosity"] < 1):
            as_of = min(today, decision.created_at.date() + dt.timedelta(days=o["horizon_days"]))
            services.loan_outcome_record(
                client=decision.client,
                decision=decision,
                status=LoanOutcome.Status.DEFAULTED if is_bad else LoanOutcome.Status.PERFORMING,
                as_of=as_of,
                default_date=as_of if is_bad else None,
                arrears_months=3 if is_bad else 0,
            )
        self.stdout.write(f"Reported {len(decisions):,} outcomes, {int(bad.sum()):,} defaults ({bad.mean():.1%}).")
