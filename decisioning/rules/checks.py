"""Static checks of a rule-set version, run when a draft is saved and again when it is submitted.

Errors block submission (and so publication); warnings are shown to the analyst and the publisher.
What is checked:
- every condition parses, reads only catalogue fields and gives true/false;
- actions carry the parameter they need (and only then), reason codes are in the catalogue;
- rules that can never fire: contradictory bounds (`applicant.age < 18 and applicant.age > 65`),
  bounds outside a field's range (`applicant.age > 150`), values a field never takes
  (`kyc.status == "failed"`), constant-false conditions;
- a decline rule that fires for every application (constant true);
- rules shadowed by an earlier decline gate: whenever they fire, the gate declines too, so they can
  never change an outcome;
- cut-offs that overlap (approve above decline) or leave PDs no band covers (outside 0..1).

The implication analysis understands conjunctions (`and`) of simple comparisons between a field and
literals; a condition using `or`, parentheses or functions is treated as opaque (never reported as
shadowed or never-firing unless it is constant). That keeps every finding certain: no false alarms.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from decisioning.engine.types import RuleAction
from decisioning.rules.compiler import ACTIONS_WITH_PARAMETER, RuleSpec, VersionSpec
from decisioning.rules.language import FIELDS, ConditionError, parse

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    code: str
    message: str
    rule: str = ""  # rule key, "" for version-level findings

    def as_dict(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "rule": self.rule,
        }


# ---- constraint algebra ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    lo: float = -math.inf
    lo_inc: bool = False
    hi: float = math.inf
    hi_inc: bool = False

    def intersect(self, other: Interval) -> Interval:
        if self.lo > other.lo or (self.lo == other.lo and not self.lo_inc):
            lo, lo_inc = self.lo, self.lo_inc
        else:
            lo, lo_inc = other.lo, other.lo_inc
        if self.hi < other.hi or (self.hi == other.hi and not self.hi_inc):
            hi, hi_inc = self.hi, self.hi_inc
        else:
            hi, hi_inc = other.hi, other.hi_inc
        return Interval(lo, lo_inc, hi, hi_inc)

    def empty(self, integer: bool = False) -> bool:
        if self.lo > self.hi or (self.lo == self.hi and not (self.lo_inc and self.hi_inc)):
            return True
        if integer and math.isfinite(self.lo) and math.isfinite(self.hi):
            first = math.ceil(self.lo) if self.lo_inc else math.floor(self.lo) + 1
            last = math.floor(self.hi) if self.hi_inc else math.ceil(self.hi) - 1
            return first > last
        return False

    def within(self, other: Interval) -> bool:
        lo_ok = self.lo > other.lo or (self.lo == other.lo and (other.lo_inc or not self.lo_inc))
        hi_ok = self.hi < other.hi or (self.hi == other.hi and (other.hi_inc or not self.hi_inc))
        return lo_ok and hi_ok


@dataclass(frozen=True, slots=True)
class Values:
    """A finite set of allowed values (text or true/false)."""

    allowed: frozenset[Any]

    def intersect(self, other: Values) -> Values:
        return Values(self.allowed & other.allowed)


Constraint = Interval | Values

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<num>-?\d+(?:\.\d+)?(?!\.\d)(?=\.\.|[^.]|$))|(?P<range>\.\.)"
    r"|(?P<op>==|!=|>=|<=|>|<)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[\[\](),?:+\-*/%^!#]))"
)
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}


def _tokens(text: str) -> list[tuple[str, Any]] | None:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "str":
            out.append(("lit", raw[1:-1]))
        elif kind == "num":
            out.append(("lit", float(raw)))
        elif kind == "word" and raw in ("true", "false"):
            out.append(("lit", raw == "true"))
        elif kind == "word" and raw in ("and", "or", "not", "in"):
            out.append((raw, raw))
        elif kind == "word":
            out.append(("field", raw))
        else:
            out.append((kind, raw))
    return out


def _domain(path: str) -> Constraint:
    f = FIELDS[path]
    if f.type == "boolean":
        return Values(frozenset({True, False}))
    if f.type == "string":
        return Values(frozenset(f.choices)) if f.choices else Values(frozenset({"*any*"}))
    return Interval(
        -math.inf if f.minimum is None else float(f.minimum),
        f.minimum is not None,
        math.inf if f.maximum is None else float(f.maximum),
        f.maximum is not None,
    )


def _atom(tokens: list[tuple[str, Any]]) -> tuple[str, Constraint] | None:
    kinds = [k for k, _ in tokens]
    if kinds == ["field"] and FIELDS[tokens[0][1]].type == "boolean":
        return tokens[0][1], Values(frozenset({True}))
    if kinds == ["not", "field"] and FIELDS[tokens[1][1]].type == "boolean":
        return tokens[1][1], Values(frozenset({False}))
    if len(tokens) == 3 and kinds[1] == "op":
        if kinds[0] == "lit" and kinds[2] == "field":
            tokens = [tokens[2], ("op", _FLIP[tokens[1][1]]), tokens[0]]
            kinds = ["field", "op", "lit"]
        if kinds != ["field", "op", "lit"]:
            return None
        path, op, value = tokens[0][1], tokens[1][1], tokens[2][1]
        ftype = FIELDS[path].type
        if ftype in ("number", "integer") and isinstance(value, float):
            return path, {
                ">": Interval(lo=value),
                ">=": Interval(lo=value, lo_inc=True),
                "<": Interval(hi=value),
                "<=": Interval(hi=value, hi_inc=True),
                "==": Interval(value, True, value, True),
            }.get(op) or _not_equal(path, value)
        if ftype in ("boolean", "string") and not isinstance(value, float):
            domain = _domain(path)
            assert isinstance(domain, Values)
            if op == "==":
                return path, Values(frozenset({value}))
            if op == "!=" and "*any*" not in domain.allowed:
                return path, Values(domain.allowed - {value})
        return None
    if (
        len(tokens) >= 4
        and kinds[:3] == ["field", "in", "punct"]
        and tokens[2][1] == "["
        and tokens[-1][1] == "]"
    ):
        path, inner = tokens[0][1], tokens[3:-1]
        if len(inner) == 3 and inner[1][0] == "range" and inner[0][0] == inner[2][0] == "lit":
            lo, hi = inner[0][1], inner[2][1]
            if isinstance(lo, float) and isinstance(hi, float):
                return path, Interval(lo, True, hi, True)
            return None
        values = [v for k, v in inner if k == "lit"]
        alternating = [k for k, _ in inner] == [
            "lit" if i % 2 == 0 else "punct" for i in range(len(inner))
        ]
        if alternating and values and FIELDS[path].type == "string":
            return path, Values(frozenset(values))
    return None


def _not_equal(path: str, value: float) -> None:
    return None  # `!=` on a number excludes a point: not a region this analysis represents


def conjunction(text: str) -> dict[str, Constraint] | None:
    """The condition as field → constraint if it is a conjunction of simple atoms, else None."""
    tokens = _tokens(text)
    if tokens is None or any(k == "or" or (k == "punct" and v in "()?:#") for k, v in tokens):
        return None
    parts: list[list[tuple[str, Any]]] = [[]]
    for tok in tokens:
        if tok[0] == "and":
            parts.append([])
        else:
            parts[-1].append(tok)
    region: dict[str, Constraint] = {}
    for part in parts:
        atom = _atom(part)
        if atom is None:
            return None
        path, constraint = atom
        current = region.get(path, _domain(path))
        if type(current) is not type(constraint):
            return None
        region[path] = current.intersect(constraint)  # type: ignore[arg-type]
    return region


def _empty_field(region: dict[str, Constraint]) -> str | None:
    for path, c in region.items():
        if isinstance(c, Interval) and c.empty(integer=FIELDS[path].type == "integer"):
            return path
        if isinstance(c, Values) and not c.allowed:
            return path
    return None


def implies(inner: dict[str, Constraint], outer: dict[str, Constraint]) -> bool:
    """Every application satisfying `inner` satisfies `outer`."""
    for path, oc in outer.items():
        ic = inner.get(path, _domain(path))
        if isinstance(ic, Interval) and isinstance(oc, Interval):
            if not ic.within(oc):
                return False
        elif isinstance(ic, Values) and isinstance(oc, Values):
            if not ic.allowed <= oc.allowed or "*any*" in ic.allowed:
                return False
        else:
            return False
    return True


# ---- the checks --------------------------------------------------------------------------------


def _rule_findings(rule: RuleSpec, known_reasons: Iterable[str] | None) -> list[Finding]:
    out: list[Finding] = []
    try:
        parse(rule.condition)
    except ConditionError as e:
        out.append(Finding("error", "invalid_condition", f"{rule.name}: {e}", rule.key))
    if rule.action not in {a.value for a in RuleAction}:
        out.append(
            Finding(
                "error", "unknown_action", f"{rule.name}: unknown action {rule.action!r}", rule.key
            )
        )
    elif rule.action in ACTIONS_WITH_PARAMETER:
        if rule.parameter is None:
            out.append(
                Finding(
                    "error",
                    "parameter_required",
                    f"{rule.name}: {rule.action} needs a parameter",
                    rule.key,
                )
            )
        elif rule.action == RuleAction.ADJUST_SCORE.value and not (
            -1 < rule.parameter < 1 and rule.parameter != 0
        ):
            out.append(
                Finding(
                    "error",
                    "parameter_range",
                    f"{rule.name}: a score adjustment is a PD shift between -1 and 1, not 0",
                    rule.key,
                )
            )
        elif rule.action == RuleAction.CAP_AMOUNT.value and rule.parameter <= 0:
            out.append(
                Finding(
                    "error",
                    "parameter_range",
                    f"{rule.name}: an amount cap must be above £0",
                    rule.key,
                )
            )
    elif rule.parameter is not None:
        out.append(
            Finding(
                "error",
                "parameter_unused",
                f"{rule.name}: {rule.action} takes no parameter",
                rule.key,
            )
        )
    if known_reasons is not None and rule.reason_code not in set(known_reasons):
        out.append(
            Finding(
                "error",
                "unknown_reason_code",
                f"{rule.name}: reason code {rule.reason_code!r} is not in the catalogue",
                rule.key,
            )
        )
    return out


def _constant(text: str) -> bool | None:
    try:
        parsed = parse(text)
    except ConditionError:
        return None
    if parsed.reads:
        return None
    from decisioning.rules.language import compile_condition

    condition, _ = compile_condition(text)
    return condition({})


def check_version(
    spec: VersionSpec, *, known_reasons: Iterable[str] | None = None
) -> list[Finding]:
    """All findings for a version, errors first."""
    findings: list[Finding] = []
    a, d = float(spec.approve_max_pd), float(spec.decline_min_pd)
    for name, value in (("approve at or below", a), ("decline above", d)):
        if not 0.0 <= value <= 1.0:
            findings.append(
                Finding(
                    "error",
                    "cutoff_gap",
                    f"Cut-off '{name}' is {value:g}: PDs run from 0 to 1, so some PDs would fall in no band",
                )
            )
    if a > d:
        findings.append(
            Finding(
                "error",
                "cutoff_overlap",
                f"Cut-offs overlap: approve up to {a:g} but decline above {d:g}; PDs in between would be both",
            )
        )
    elif a == d:
        findings.append(
            Finding(
                "warning",
                "cutoff_no_refer_band",
                f"Approve and decline cut-offs are both {a:g}: no application is referred on its score",
            )
        )

    rules = spec.ordered_rules()
    keys = [r.key for r in rules]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        findings.append(Finding("error", "duplicate_key", f"Two rules share the key {key!r}", key))
    enabled = [r for r in rules if r.enabled]
    if not enabled:
        findings.append(
            Finding("warning", "no_rules", "No enabled rules: only the score cut-offs decide")
        )

    regions: dict[str, dict[str, Constraint] | None] = {}
    for rule in rules:
        own = _rule_findings(rule, known_reasons)
        findings += own
        if not rule.enabled or any(f.code == "invalid_condition" for f in own):
            continue
        constant = _constant(rule.condition)
        if constant is False:
            findings.append(
                Finding(
                    "error", "never_fires", f"{rule.name}: the condition is always false", rule.key
                )
            )
            continue
        if constant is True and rule.action == RuleAction.DECLINE.value:
            findings.append(
                Finding(
                    "error",
                    "declines_everything",
                    f"{rule.name}: the condition is always true, so every application is declined",
                    rule.key,
                )
            )
        region = conjunction(rule.condition)
        regions[rule.key] = region
        if region is not None:
            empty = _empty_field(region)
            if empty is not None:
                findings.append(
                    Finding(
                        "error",
                        "never_fires",
                        f"{rule.name}: can never fire — no value of {empty} satisfies the condition"
                        f" (range {_describe_domain(empty)})",
                        rule.key,
                    )
                )
                regions[rule.key] = None

    gates = [r for r in enabled if r.action == RuleAction.DECLINE.value]
    for rule in enabled:
        region = regions.get(rule.key)
        if region is None:
            continue
        for gate in gates:
            if gate.key == rule.key or (gate.order, gate.key) >= (rule.order, rule.key):
                continue
            gate_region = regions.get(gate.key)
            if gate_region is not None and implies(region, gate_region):
                findings.append(
                    Finding(
                        "warning",
                        "shadowed",
                        f"{rule.name}: shadowed by the earlier gate {gate.name!r} — whenever it fires, "
                        f"that gate declines, so it can never change an outcome",
                        rule.key,
                    )
                )
                break
    findings.sort(key=lambda f: (f.severity != "error",))
    return findings


def _describe_domain(path: str) -> str:
    f = FIELDS[path]
    if f.choices:
        return "one of " + ", ".join(f.choices)
    if f.type == "boolean":
        return "true or false"
    lo = "" if f.minimum is None else f"{f.minimum:g}"
    hi = "" if f.maximum is None else f"{f.maximum:g}"
    return f"{lo}..{hi}"


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
