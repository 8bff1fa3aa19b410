"""Reconstruction: re-run a stored decision from its own records and compare.

Everything comes from what was stored at decision time — the Application row, the signal
records, the rule-set version label, the model name/version/hash, the product's limits as they
were (django-simple-history) — and goes through the one pipeline, `decide`. No provider is
called. The model is loaded by its exact registry version and must have the stored SHA-256.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from audit.canonical import jsonable
from audit.services import Actor, audit_record
from decisioning.engine.pipeline import Limits, decide
from decisioning.engine.types import DecisionResult
from decisioning.models import Decision, Product
from decisioning.signals.gateway import signals_from_stored
from decisioning.snapshots import application_data, limits_of


class ReplayUnavailable(Exception):
    """Something the replay needs cannot be rebuilt exactly (unknown rule-set version, model
    version missing from the registry, model file hash different from the stored one)."""


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    stored: Any
    replayed: Any


@dataclass(frozen=True, slots=True)
class ReplayResult:
    decision_id: str
    matches: bool
    differences: tuple[Difference, ...] = ()
    outcome: str = ""
    pd: float | None = None
    pd_bits: str = ""
    ruleset_version: str = ""
    model: str = ""
    model_hash: str = ""
    error: str = ""
    compared: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "matches": self.matches,
            "error": self.error,
            "outcome": self.outcome,
            "pd": self.pd,
            "pd_bits": self.pd_bits,
            "ruleset_version": self.ruleset_version,
            "model": self.model,
            "model_hash": self.model_hash,
            "compared": list(self.compared),
            "differences": [
                {"field": d.field, "stored": d.stored, "replayed": d.replayed}
                for d in self.differences
            ],
        }


def policy_at(*, product: Product, version: str) -> Any:
    """The compiled policy of the stored rule-set version label."""
    from decisioning import selectors
    from decisioning.engine.policy import BUILTIN_POLICY

    finder = getattr(selectors, "policy_for_version", None)
    if finder is None:
        if version == BUILTIN_POLICY.version:
            return BUILTIN_POLICY
        raise ReplayUnavailable(f"rule-set version {version!r} cannot be rebuilt")
    try:
        return finder(product=product, version=version)
    except Exception as e:  # NotFound or a compile error: either way, no exact policy
        raise ReplayUnavailable(f"rule-set version {version!r} cannot be rebuilt: {e}") from e


def scorer_at(*, decision: Decision) -> Any | None:
    """The exact model version the decision used, verified against the stored hash."""
    if not decision.model_name:
        return None
    from modeling.registry import model_name
    from modeling.serving import get_scorer_version

    if model_name(decision.product.code) != decision.model_name:
        raise ReplayUnavailable(
            f"model {decision.model_name} is not the registry model of product {decision.product.code}"
        )
    scorer, error = get_scorer_version(decision.product.code, decision.model_version)
    if scorer is None:
        raise ReplayUnavailable(
            f"model {decision.model_name} v{decision.model_version} cannot be loaded: {error}"
        )
    if scorer.model_hash != decision.model_hash:
        raise ReplayUnavailable(
            f"model {decision.model_name} v{decision.model_version} has SHA-256 {scorer.model_hash[:16]}…, "
            f"the decision recorded {decision.model_hash[:16]}…"
        )
    return scorer


def limits_at(*, decision: Decision) -> Limits:
    """The product's limits as they stood when the decision was made."""
    product: Any = decision.product
    try:
        product = decision.product.history.as_of(decision.created_at)
    except Exception:  # no history row that old (created before history was kept)
        product = decision.product
    return limits_of(product)


def _bits(value: float | None) -> str:
    return "" if value is None else struct.pack(">d", value).hex()


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return _bits(a) == _bits(b)
    return _bits(a) == _bits(b)


def _stored_view(d: Decision) -> dict[str, Any]:
    return {
        "outcome": d.outcome,
        "approved_amount": None if d.approved_amount is None else str(d.approved_amount),
        "reasons": jsonable(d.reasons),
        "rule_results": jsonable(d.rule_results),
        "features": jsonable(d.features),
        "explanation": jsonable(d.explanation),
        "counterfactual": jsonable(d.counterfactual),
        "ruleset_version": d.ruleset_version,
        "degraded": d.degraded,
    }


def _replayed_view(result: DecisionResult) -> dict[str, Any]:
    from decisioning.services import decision_payload

    payload = decision_payload(result)
    return {
        "outcome": result.outcome.value,
        "approved_amount": None if result.approved_amount is None else str(result.approved_amount),
        "reasons": jsonable(payload["reasons"]),
        "rule_results": jsonable(payload["rule_results"]),
        "features": jsonable(payload["features"]),
        "explanation": jsonable(payload["explanation"]),
        "counterfactual": jsonable(result.counterfactual),
        "ruleset_version": result.ruleset_version,
        "degraded": result.degraded,
    }


def _diff_lists(name: str, stored: Any, replayed: Any) -> list[Difference]:
    """Element-level differences for lists of records (rule results, reasons)."""
    if not isinstance(stored, list) or not isinstance(replayed, list):
        return [Difference(name, stored, replayed)]
    out = []
    for i in range(max(len(stored), len(replayed))):
        a = stored[i] if i < len(stored) else None
        b = replayed[i] if i < len(replayed) else None
        if a != b:
            label = a.get("rule_id") or a.get("code") if isinstance(a, dict) else None
            out.append(Difference(f"{name}[{i}]" + (f" {label}" if label else ""), a, b))
    return out


def decision_replay(*, decision: Decision) -> ReplayResult:
    """Re-run `decision` and compare outcome, PD (bit for bit), interval, reasons, every rule
    result, features, explanation, amount and counterfactual with what was stored."""
    decision_id = str(decision.pk)
    try:
        app = application_data(decision.application)
        signals = signals_from_stored(decision.signals)
        policy = policy_at(product=decision.product, version=decision.ruleset_version)
        scorer = scorer_at(decision=decision)
    except ReplayUnavailable as e:
        return ReplayResult(decision_id, False, error=str(e))
    result = decide(
        app,
        signals=signals,
        policy=policy,
        scorer=scorer,
        as_of=decision.created_at.date(),
        limits=limits_at(decision=decision),
    )

    differences: list[Difference] = []
    for name, a, b in (
        ("pd", decision.pd, result.pd),
        ("pd_lower", decision.pd_lower, result.pd_lower),
        ("pd_upper", decision.pd_upper, result.pd_upper),
    ):
        if not _same_float(a, b):
            differences.append(Difference(name, f"{a!r} ({_bits(a)})", f"{b!r} ({_bits(b)})"))
    stored, replayed = _stored_view(decision), _replayed_view(result)
    for name in stored:
        if stored[name] != replayed[name]:
            if name in ("rule_results", "reasons"):
                differences.extend(_diff_lists(name, stored[name], replayed[name]))
            else:
                differences.append(Difference(name, stored[name], replayed[name]))
    score = result.score
    stored_model = (decision.model_name, decision.model_version, decision.model_hash)
    replayed_model = (
        (score.model_name, score.model_version, score.model_hash) if score else ("", "", "")
    )
    if stored_model != replayed_model:
        differences.append(Difference("model", list(stored_model), list(replayed_model)))
    return ReplayResult(
        decision_id,
        not differences,
        tuple(differences),
        outcome=result.outcome.value,
        pd=result.pd,
        pd_bits=_bits(result.pd),
        ruleset_version=result.ruleset_version,
        model=f"{replayed_model[0]}:{replayed_model[1]}" if score else "",
        model_hash=replayed_model[2],
        compared=("outcome", "pd", "pd_lower", "pd_upper", *stored, "model"),
    )


def decision_replay_record(*, decision: Decision, actor: Actor) -> ReplayResult:
    """Replay `decision` (`decision_replay`) and record that it was replayed, by whom, and what
    came out: a `decision.replayed` audit event on the decision, whether it matched or not.

    The replay itself changes nothing; the event is the trace that someone reconstructed the
    decision (an auditor's page, `manage.py replay_decision`) and what they were shown.
    """
    result = decision_replay(decision=decision)
    with transaction.atomic():
        audit_record(
            actor=actor,
            event_type="decision.replayed",
            subject_type="decision",
            subject_id=result.decision_id,
            payload={
                "matches": result.matches,
                "error": result.error,
                "stored": {
                    "outcome": decision.outcome,
                    "pd_bits": _bits(decision.pd),
                    "ruleset_version": decision.ruleset_version,
                    "model": f"{decision.model_name}:{decision.model_version}"
                    if decision.model_name
                    else "",
                    "model_hash": decision.model_hash,
                },
                "replayed": {
                    "outcome": result.outcome,
                    "pd_bits": result.pd_bits,
                    "ruleset_version": result.ruleset_version,
                    "model": result.model,
                    "model_hash": result.model_hash,
                },
                "compared": list(result.compared),
                "differences": [
                    {
                        "field": d.field,
                        "stored": repr(d.stored)[:500],
                        "replayed": repr(d.replayed)[:500],
                    }
                    for d in result.differences[:50]
                ],
                "difference_count": len(result.differences),
            },
        )
    return result


__all__ = [
    "Difference",
    "ReplayResult",
    "ReplayUnavailable",
    "decision_replay",
    "decision_replay_record",
]
