"""Running a version's test cases: example applications through the real pipeline.

Each case fixes the model PD (it tests the policy, not the model) and takes the deterministic
simulated signals for its applicant, with optional overrides, so a case gives the same answer
every time it runs. Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from decisioning.engine.pipeline import decide
from decisioning.engine.policy import Policy
from decisioning.engine.types import ApplicationData, FeatureVector, ScoreResult, Signals
from decisioning.rules.compiler import TestCaseSpec
from decisioning.signals.gateway import SIGNAL_TYPES, from_response, simulated_signals, to_response


class FixedScorer:
    """A stand-in model that answers the same PD for every application."""

    model_name = "test-case"
    model_version = "fixed"

    def __init__(self, pd: float) -> None:
        self.pd = pd

    def score(self, vector: FeatureVector) -> ScoreResult:
        return ScoreResult(
            model_name=self.model_name,
            model_version=self.model_version,
            model_hash="",
            pd=self.pd,
            pd_lower=self.pd,
            pd_upper=self.pd,
            contributions=(),
            reasons=(),
        )


def apply_overrides(signals: Signals, overrides: Mapping[str, Any]) -> Signals:
    """`{"kyc": {"status": "fail"}}` changes fields of a signal; `{"bureau": null}` removes it."""
    changes: dict[str, Any] = {}
    for name, override in overrides.items():
        if name not in SIGNAL_TYPES:
            raise ValueError(
                f"Unknown signal {name!r} in signal_overrides (use {', '.join(SIGNAL_TYPES)})"
            )
        if override is None:
            changes[name] = None
            continue
        if not isinstance(override, Mapping):
            raise ValueError(f"signal_overrides.{name} must be an object or null")
        current = getattr(signals, name)
        base = to_response(current) if current is not None else {}
        unknown = set(override) - {f.name for f in dataclasses.fields(SIGNAL_TYPES[name])}
        if unknown:
            raise ValueError(
                f"signal_overrides.{name}: unknown field(s) {', '.join(sorted(unknown))}"
            )
        changes[name] = from_response(name, {**base, **override})
    return dataclasses.replace(signals, **changes)


def run_case(
    case: TestCaseSpec, app: ApplicationData, policy: Policy, *, now: dt.datetime
) -> dict[str, Any]:
    try:
        # Test cases never call real providers: the deterministic simulators plus the case's overrides.
        signals = apply_overrides(simulated_signals(app, now=now), case.signal_overrides)
    except (ValueError, TypeError) as e:
        return {"name": case.name, "passed": False, "error": str(e)}
    result = decide(
        app, signals=signals, policy=policy, scorer=FixedScorer(case.model_pd), as_of=now.date()
    )
    codes = [r.code for r in result.reasons]
    missing = [code for code in case.expected_reasons if code not in codes]
    passed = result.outcome.value == case.expected_outcome and not missing
    return {
        "name": case.name,
        "passed": passed,
        "expected_outcome": case.expected_outcome,
        "outcome": result.outcome.value,
        "expected_reasons": list(case.expected_reasons),
        "reasons": codes,
        "missing_reasons": missing,
        "fired": [r.rule_id for r in result.rule_results if r.fired],
        "errors": [f"{r.rule_id}: {r.error}" for r in result.rule_results if r.error],
        "error": "",
    }
