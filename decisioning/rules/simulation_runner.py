"""Running an impact simulation over stored decisions (Django side of `rules.simulation`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from decisioning.engine.pipeline import decide
from decisioning.models import Decision, RuleSetSimulation
from decisioning.rules import selectors as rule_selectors
from decisioning.rules.compiler import content_hash
from decisioning.rules.simulation import ImpactAccumulator, segments_of
from decisioning.signals.gateway import signals_from_stored
from decisioning.snapshots import application_data
from modeling.features import rule_context


def run_simulation(simulation: RuleSetSimulation, *, progress_every: int = 50) -> dict[str, Any]:
    from decisioning import selectors

    version = simulation.version
    product = version.rule_set.product
    spec = rule_selectors.version_spec(version)
    if content_hash(spec) != simulation.content_hash:
        raise RuntimeError(
            "The version changed after the simulation was requested; simulate again."
        )
    after_policy = rule_selectors.compiled_policy(version)
    before_policy = rule_selectors.policy_for_version(
        product=product, version=simulation.baseline_label
    )
    scorer, model_error = selectors.scorer_for_product(product=product)

    ids = list(
        Decision.objects.filter(product=product)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)[: simulation.sample_size]
    )
    total = len(ids)
    RuleSetSimulation.objects.filter(pk=simulation.pk).update(total=total)
    acc = ImpactAccumulator()
    done = 0
    for start in range(0, total, 500):
        chunk = Decision.objects.filter(pk__in=ids[start : start + 500]).select_related(
            "application"
        )
        for d in chunk:
            try:
                app = application_data(d.application)
                signals = signals_from_stored(d.signals)
                as_of = d.created_at.astimezone(dt.UTC).date()
                before = decide(
                    app, signals=signals, policy=before_policy, scorer=scorer, as_of=as_of
                )
                after = decide(
                    app, signals=signals, policy=after_policy, scorer=scorer, as_of=as_of
                )
            except (ValueError, TypeError, KeyError):  # a malformed stored row: counted, not fatal
                acc.errors += 1
            else:
                ctx = rule_context(app, signals, after.features, after.pd)
                acc.add(
                    decision_id=str(d.pk),
                    reference=d.application.reference,
                    before=before,
                    after=after,
                    segments=segments_of(ctx),
                    stored_outcome=d.outcome,
                )
            done += 1
            if done % progress_every == 0:
                RuleSetSimulation.objects.filter(pk=simulation.pk).update(
                    done=done, progress=done / total
                )
    results = acc.as_dict()
    results["baseline"] = simulation.baseline_label
    results["version"] = version.label
    results["model"] = (
        f"{scorer.model_name}:{scorer.model_version}"
        if scorer is not None
        else f"unavailable ({model_error})"
    )
    return results
