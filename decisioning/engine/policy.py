"""A credit policy: ordered rules over the rule context, plus PD cut-offs.

A rule's condition is a callable over the rule context (namespaces `applicant`, `loan`, `bureau`,
`kyc`, `sanctions`, `fraud`, `features`, `model`). The built-in policy below is written in Python;
rule sets that analysts edit compile their expressions to the same `Rule` shape, so the pipeline
does not know where a policy came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from decisioning.engine.types import Cutoffs, RuleAction, RuleResult

Context = Mapping[str, Mapping[str, Any]]


class MissingValue(Exception):
    """A rule read a value that is not there (for example, a signal that was not obtained)."""


def read(ctx: Context, path: str) -> Any:
    namespace, _, name = path.partition(".")
    try:
        value = ctx[namespace][name]
    except KeyError as e:
        raise MissingValue(f"{path} is not a known field") from e
    if value is None:
        raise MissingValue(f"{path} is missing")
    return value


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    version: str
    name: str
    action: RuleAction
    reason_code: str
    reads: tuple[str, ...]
    condition: Callable[[Context], bool]
    parameter: float | None = None
    hard_gate: bool = False
    required: bool = True  # evaluation error → refer (fail closed); False → rule is skipped

    def evaluate(self, ctx: Context) -> RuleResult:
        inputs: dict[str, Any] = {}
        for path in self.reads:
            namespace, _, name = path.partition(".")
            inputs[path] = ctx.get(namespace, {}).get(name)
        try:
            fired = bool(self.condition(ctx))
            error = ""
        except (MissingValue, TypeError, ValueError, ArithmeticError, KeyError) as e:
            fired, error = False, f"{type(e).__name__}: {e}"
        return RuleResult(
            rule_id=self.id,
            rule_version=self.version,
            name=self.name,
            fired=fired,
            action=self.action,
            reason_code=self.reason_code,
            inputs=inputs,
            error=error,
            parameter=self.parameter,
        )


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    cutoffs: Cutoffs
    #: Customer wording of this version's rule reason codes, frozen with the version
    #: ((code, text) pairs; empty for the built-in policy, whose wording is `engine.reasons`).
    reason_texts: tuple[tuple[str, str], ...] = ()

    def reason_text(self, code: str) -> str | None:
        for known, text in self.reason_texts:
            if known == code:
                return text
        return None

    def evaluate(self, ctx: Context) -> tuple[RuleResult, ...]:
        return tuple(rule.evaluate(ctx) for rule in self.rules)


def _rule(
    id: str,
    name: str,
    action: RuleAction,
    reason: str,
    reads: tuple[str, ...],
    condition: Callable[[Context], bool],
    *,
    hard_gate: bool = True,
    parameter: float | None = None,
) -> Rule:
    return Rule(
        id=id, version="1", name=name, action=action, reason_code=reason, reads=reads,
        condition=condition, hard_gate=hard_gate, parameter=parameter,
    )


D, R = RuleAction.DECLINE, RuleAction.REFER

#: The policy that ships with Verdict, used until a product has a published rule set.
BUILTIN_POLICY = Policy(
    version="builtin-1",
    cutoffs=Cutoffs(approve_max_pd=0.08, decline_min_pd=0.25),
    rules=(
        _rule("sanctions_hit", "Sanctions match", D, "SANCTIONS_HIT", ("sanctions.sanctions_hit",),
              lambda c: read(c, "sanctions.sanctions_hit") is True),
        _rule("pep_hit", "Politically exposed person", R, "PEP_MATCH", ("sanctions.pep_hit",),
              lambda c: read(c, "sanctions.pep_hit") is True),
        _rule("kyc_failed", "Identity not verified", D, "KYC_FAILED", ("kyc.status",),
              lambda c: read(c, "kyc.status") == "fail"),
        _rule("kyc_refer", "Identity needs checking", R, "KYC_REFER", ("kyc.status",),
              lambda c: read(c, "kyc.status") == "refer"),
        _rule("not_uk_resident", "Not UK resident", D, "NOT_UK_RESIDENT", ("applicant.uk_resident",),
              lambda c: read(c, "applicant.uk_resident") is False),
        _rule("under_18", "Under 18", D, "UNDER_18", ("applicant.age",),
              lambda c: read(c, "applicant.age") < 18),
        _rule("bankrupt_or_iva", "Bankruptcy or IVA", D, "BANKRUPTCY_IVA", ("applicant.bankrupt_or_iva",),
              lambda c: read(c, "applicant.bankrupt_or_iva") is True),
        _rule("unaffordable", "Repayment not affordable", D, "UNAFFORDABLE", ("features.disposable_income",),
              lambda c: read(c, "features.disposable_income") < 0),
        _rule("recent_ccj", "Recent county court judgment", R, "RECENT_CCJ", ("bureau.ccj_count_6y",),
              lambda c: read(c, "bureau.ccj_count_6y") > 0, hard_gate=False),
        _rule("high_fraud_score", "High fraud score", R, "FRAUD_RISK", ("fraud.fraud_score",),
              lambda c: read(c, "fraud.fraud_score") >= 80, hard_gate=False),
    ),
)
