"""A readable difference between two rule-set versions: cut-offs, then rules matched by key.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from decisioning.rules.compiler import RuleSpec, VersionSpec

RULE_FIELDS = (
    "name",
    "condition",
    "action",
    "parameter",
    "reason_code",
    "order",
    "enabled",
    "description",
)


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "cutoff" | "added" | "removed" | "changed" | "wording"
    subject: str
    field: str = ""
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "field": self.field,
            "before": self.before,
            "after": self.after,
        }

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ rule {self.subject}: {self.after}"
        if self.kind == "removed":
            return f"- rule {self.subject}: {self.before}"
        return f"~ {self.subject} {self.field}: {self.before!r} → {self.after!r}"


def _summary(rule: RuleSpec) -> str:
    state = "" if rule.enabled else " (disabled)"
    param = f" {rule.parameter:g}" if rule.parameter is not None else ""
    return f"{rule.name}: if {rule.condition} then {rule.action}{param} [{rule.reason_code}]{state}"


def diff_versions(old: VersionSpec, new: VersionSpec) -> list[Change]:
    changes: list[Change] = []
    for name, attr in (
        ("approve at or below PD", "approve_max_pd"),
        ("decline above PD", "decline_min_pd"),
    ):
        a, b = float(getattr(old, attr)), float(getattr(new, attr))
        if a != b:
            changes.append(Change("cutoff", "cut-off", name, a, b))
    before = {r.key: r for r in old.rules}
    after = {r.key: r for r in new.rules}
    for key in sorted(
        set(before) | set(after), key=lambda k: ((after.get(k) or before[k]).order, k)
    ):
        if key not in before:
            changes.append(Change("added", key, after=_summary(after[key])))
        elif key not in after:
            changes.append(Change("removed", key, before=_summary(before[key])))
        else:
            for f in RULE_FIELDS:
                x, y = getattr(before[key], f), getattr(after[key], f)
                if x != y:
                    changes.append(Change("changed", key, f, x, y))
    for code in sorted(set(old.reason_texts) | set(new.reason_texts)):
        x, y = old.reason_texts.get(code), new.reason_texts.get(code)
        if x != y and x is not None and y is not None:
            changes.append(Change("wording", code, "customer wording", x, y))
    return changes
