"""A rule-set version's content as plain values, its content hash, and its compilation into the
engine's `Policy` (the only thing `decide` understands).

Compiled policies are cached in-process keyed by (version id, content hash): a version is
compiled once per process, and a changed draft (new hash) can never be served from a stale entry.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from decisioning.engine.policy import Policy, Rule
from decisioning.engine.types import Cutoffs, RuleAction
from decisioning.rules.language import compile_condition

ACTIONS_WITH_PARAMETER = (RuleAction.ADJUST_SCORE.value, RuleAction.CAP_AMOUNT.value)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule as an analyst wrote it. `key` is stable across versions (it names the rule in
    decisions and diffs); `order` is the evaluation and display order."""

    key: str
    name: str
    condition: str
    action: str
    reason_code: str
    order: int = 0
    enabled: bool = True
    parameter: float | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class TestCaseSpec:
    """An example application (API request body), the PD to assume for it, optional signal
    overrides, and what the policy must answer."""

    __test__ = False  # not a pytest class

    name: str
    application: Mapping[str, Any]
    expected_outcome: str
    expected_reasons: tuple[str, ...] = ()
    model_pd: float = 0.02
    signal_overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """Everything that decides: the rules, the cut-offs and the customer wording of their reasons.
    Notes, authorship and timestamps are deliberately not content."""

    label: str
    approve_max_pd: float
    decline_min_pd: float
    rules: tuple[RuleSpec, ...]
    reason_texts: Mapping[str, str] = field(default_factory=dict)

    def ordered_rules(self) -> tuple[RuleSpec, ...]:
        return tuple(sorted(self.rules, key=lambda r: (r.order, r.key)))


def content_hash(spec: VersionSpec) -> str:
    """SHA-256 of what decides (not of the label: a rollback re-publishes identical content under
    a new label, and the hash shows it is identical)."""
    content = {
        "approve_max_pd": round(float(spec.approve_max_pd), 6),
        "decline_min_pd": round(float(spec.decline_min_pd), 6),
        "rules": [
            {
                **asdict(r),
                "parameter": None if r.parameter is None else round(float(r.parameter), 6),
            }
            for r in spec.ordered_rules()
        ],
        "reason_texts": dict(sorted(spec.reason_texts.items())),
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def compile_policy(spec: VersionSpec) -> Policy:
    """The enabled rules in order, each condition compiled once. Raises `ConditionError` for an
    invalid condition (drafts are validated on save, so a stored version never does)."""
    rules = []
    for r in spec.ordered_rules():
        if not r.enabled:
            continue
        condition, reads = compile_condition(r.condition)
        rules.append(
            Rule(
                id=r.key,
                version=spec.label,
                name=r.name,
                action=RuleAction(r.action),
                reason_code=r.reason_code,
                reads=reads,
                condition=condition,
                parameter=float(r.parameter)
                if r.action in ACTIONS_WITH_PARAMETER and r.parameter is not None
                else None,
                hard_gate=r.action == RuleAction.DECLINE.value,
            )
        )
    return Policy(
        version=spec.label,
        rules=tuple(rules),
        cutoffs=Cutoffs(
            approve_max_pd=float(spec.approve_max_pd), decline_min_pd=float(spec.decline_min_pd)
        ),
        reason_texts=tuple(sorted(spec.reason_texts.items())),
    )


class PolicyCache:
    """Compiled policies by (version key, content hash), least recently used evicted."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, str], Policy] = OrderedDict()
        self._lock = threading.Lock()
        self.compilations = 0  # for tests and metrics

    def get(self, key: Any, digest: str, load: Callable[[], VersionSpec]) -> Policy:
        with self._lock:
            policy = self._items.get((key, digest))
            if policy is not None:
                self._items.move_to_end((key, digest))
                return policy
        spec = load()
        policy = compile_policy(spec)
        with self._lock:
            self.compilations += 1
            self._items[(key, digest)] = policy
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return policy

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


POLICIES = PolicyCache()
