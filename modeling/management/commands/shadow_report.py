"""`manage.py shadow_report --product personal-loan --model-version 3 [--json]`: the challenger's shadow
report and whether the promotion gate is met (exit status 0 either way; read `gate.passed`)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import NotFound
from modeling import selectors
from modeling.management.commands import _modelops as ops


class Command(BaseCommand):
    help = "Print a challenger's shadow report (text or --json)."

    def add_arguments(self, parser: CommandParser) -> None:
        ops.add_common(parser, needs_user=False)
        parser.add_argument("--model-version", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            r = selectors.shadow_report(
                product=ops.product(o["product"]),
                version=o["model_version"],
                now=ops.when(o["now"]),
            )
        except NotFound as e:
            raise CommandError(e.message) from e
        if o["json"]:
            self.stdout.write(json.dumps(r.as_dict(), indent=2, default=str))
            return

        def f(v: float | None, spec: str = ".4f") -> str:
            return "n/a" if v is None else format(v, spec)

        w = self.stdout.write
        w(f"{r.model_name} v{r.version} vs champion v{r.champion_version} ({r.status})")
        w(
            f"window   {r.window_start:%Y-%m-%d %H:%M} .. {r.window_end:%Y-%m-%d %H:%M} ({r.window_days:.2f} days)"
        )
        w(
            f"volume   {r.volume} scored of {r.decisions} decisions (coverage {f(r.coverage, '.3f')})"
        )
        w(
            f"agree    {f(r.agreement_rate, '.3f')}   pearson {f(r.pearson, '.3f')}   spearman {f(r.spearman, '.3f')}   psi {f(r.psi)}"
        )
        w(
            f"approve  champion {f(r.approval_rate_champion, '.3f')}  challenger {f(r.approval_rate_challenger, '.3f')}"
        )
        w(
            "flips    rows champion, columns challenger (approve, refer, decline): "
            + str(r.flip_matrix)
        )
        if r.auc is not None:
            a = r.auc
            w(
                f"auc      champion {a.auc_champion:.4f}  challenger {a.auc_challenger:.4f}  diff {a.difference:+.4f} "
                f"(DeLong p={a.p_value:.4f}, n={a.n}, bad={a.n_bad})"
            )
        else:
            w(f"auc      not available ({r.matured} matured loans)")
        w("gate     " + ("MET" if r.gate.passed else "NOT MET"))
        for c in r.gate.checks:
            w(
                f"  [{'x' if c.passed else ' '}] {c.label}: {f(c.value) if isinstance(c.value, float) else c.value}"
                + (f"  {c.note}" if c.note else "")
            )
