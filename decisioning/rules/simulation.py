"""Impact statistics: what changes when the same applications are decided by a draft policy
instead of the published one.

Method (docs/rules.md): each stored decision is re-decided twice through `decide` with its stored
inputs (application row, stored signal responses, its decision date) and the *current* champion
model — once under the currently published policy ("before") and once under the draft ("after").
Holding the model and the inputs fixed means every flip is caused by the policy change alone,
not by a model promotion or a changed bureau answer since the decision was made.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from decisioning.engine.types import DecisionResult, Outcome

OUTCOMES = (Outcome.APPROVE.value, Outcome.REFER.value, Outcome.DECLINE.value)
MAX_EXAMPLES = 25


def _band(value: float, edges: tuple[float, ...], labels: tuple[str, ...]) -> str:
    for edge, label in zip(edges, labels, strict=False):
        if value < edge:
            return label
    return labels[-1]


def segments_of(ctx: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The segments a flip is counted under, from the rule context."""
    a, loan = ctx["applicant"], ctx["loan"]
    age = a.get("age") or 0
    return {
        "age band": _band(age, (25, 35, 50, 65), ("18-24", "25-34", "35-49", "50-64", "65+")),
        "income band": _band(
            a["annual_income"], (20000, 35000, 60000), ("<£20k", "£20k-35k", "£35k-60k", "£60k+")
        ),
        "employment": a["employment_status"],
        "residential status": a["residential_status"],
        "purpose": loan["purpose"],
        "amount band": _band(
            loan["requested_amount"], (5000, 10000, 20000), ("<£5k", "£5k-10k", "£10k-20k", "£20k+")
        ),
    }


@dataclass
class ImpactAccumulator:
    """Collects before/after pairs; `as_dict` is what a `RuleSetSimulation` stores."""

    matrix: dict[str, Counter[str]] = field(
        default_factory=lambda: {o: Counter() for o in OUTCOMES}
    )
    flips_by_reason: Counter[str] = field(default_factory=Counter)
    flips_by_segment: dict[str, Counter[str]] = field(default_factory=dict)
    totals_by_segment: dict[str, Counter[str]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    errors: int = 0
    count: int = 0

    def add(
        self,
        *,
        decision_id: str,
        reference: str,
        before: DecisionResult,
        after: DecisionResult,
        segments: dict[str, str],
        stored_outcome: str,
    ) -> None:
        self.count += 1
        b, a = before.outcome.value, after.outcome.value
        self.matrix[b][a] += 1
        for name, value in segments.items():
            self.totals_by_segment.setdefault(name, Counter())[value] += 1
        if b == a:
            return
        before_codes = {r.code for r in before.reasons}
        after_codes = {r.code for r in after.reasons}
        # A flip is attributed to the reasons that appeared (towards refer/decline) or, for a flip
        # towards approval, to the reasons that went away.
        drivers = (after_codes - before_codes) or (before_codes - after_codes) or {"CUTOFF_CHANGE"}
        for code in drivers:
            self.flips_by_reason[code] += 1
        for name, value in segments.items():
            self.flips_by_segment.setdefault(name, Counter())[value] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(
                {
                    "decision_id": decision_id,
                    "reference": reference,
                    "stored_outcome": stored_outcome,
                    "before": b,
                    "after": a,
                    "pd": None if after.pd is None else round(after.pd, 4),
                    "before_reasons": sorted(before_codes),
                    "after_reasons": sorted(after_codes),
                    "segments": segments,
                }
            )

    def as_dict(self) -> dict[str, Any]:
        n = self.count
        approvals_before = sum(self.matrix[Outcome.APPROVE.value].values())
        approvals_after = sum(self.matrix[b][Outcome.APPROVE.value] for b in OUTCOMES)
        flipped = n - sum(self.matrix[o][o] for o in OUTCOMES)

        def rate(k: int) -> float:
            return k / n if n else 0.0

        return {
            "count": n,
            "errors": self.errors,
            "flipped": flipped,
            "flip_rate": rate(flipped),
            "matrix": {b: {a: self.matrix[b][a] for a in OUTCOMES} for b in OUTCOMES},
            "outcomes_before": {o: sum(self.matrix[o].values()) for o in OUTCOMES},
            "outcomes_after": {o: sum(self.matrix[b][o] for b in OUTCOMES) for o in OUTCOMES},
            "approval_rate_before": rate(approvals_before),
            "approval_rate_after": rate(approvals_after),
            "approval_rate_change": rate(approvals_after) - rate(approvals_before),
            "flips_by_reason": dict(self.flips_by_reason.most_common()),
            "flips_by_segment": {
                name: {
                    value: {"flips": counts[value], "total": self.totals_by_segment[name][value]}
                    for value, _ in counts.most_common()
                }
                for name, counts in sorted(self.flips_by_segment.items())
            },
            "examples": self.examples,
        }
