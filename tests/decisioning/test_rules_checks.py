"""Static checks of a version: unknown fields, never-firing and shadowed rules, cut-offs. No database."""

from __future__ import annotations

import pytest

from decisioning.rules.builtin import BUILTIN_RULES
from decisioning.rules.checks import check_version
from decisioning.rules.compiler import RuleSpec, VersionSpec

KNOWN = {"X", "UNDER_18", "Y"} | {r.reason_code for r in BUILTIN_RULES}


def rule(
    key: str, condition: str, action: str = "decline", order: int = 10, **kw: object
) -> RuleSpec:
    return RuleSpec(
        key=key,
        name=key,
        condition=condition,
        action=action,
        reason_code=kw.pop("reason", "X"),  # type: ignore[arg-type]
        order=order,
        **kw,
    )  # type: ignore[arg-type]


def codes(
    *rules: RuleSpec, approve: float = 0.08, decline: float = 0.25
) -> list[tuple[str, str, str]]:
    spec = VersionSpec("t-v1", approve, decline, rules)
    return [(f.severity, f.code, f.rule) for f in check_version(spec, known_reasons=KNOWN)]


def test_the_builtin_policy_is_clean() -> None:
    assert codes(*BUILTIN_RULES) == []


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("bureau.nope > 1", ("error", "invalid_condition", "r")),
        ("applicant.age < 18 and applicant.age > 65", ("error", "never_fires", "r")),
        ("applicant.age > 150", ("error", "never_fires", "r")),
        (
            "applicant.age > 17.5 and applicant.age < 18",
            ("error", "never_fires", "r"),
        ),  # whole years
        ('kyc.status == "failed"', ("error", "never_fires", "r")),
        ("loan.purpose in ['yacht', 'castle']", ("error", "never_fires", "r")),
        ("fraud.fraud_score > 100", ("error", "never_fires", "r")),
        ("false", ("error", "never_fires", "r")),
        ("1 > 2", ("error", "never_fires", "r")),
        ("true", ("error", "declines_everything", "r")),
        ("sanctions.sanctions_hit and not sanctions.sanctions_hit", ("error", "never_fires", "r")),
    ],
)
def test_it_finds_rules_that_cannot_be_right(
    condition: str, expected: tuple[str, str, str]
) -> None:
    assert expected in codes(rule("r", condition))


@pytest.mark.parametrize(
    "condition",
    [
        "applicant.age < 18 or applicant.age > 65",  # opaque to the analysis: no false alarm
        "applicant.age in [18..25] and bureau.ccj_count_6y > 0",
        "kyc.status != 'pass'",
        "len(signals.missing) > 0",
    ],
)
def test_it_raises_no_false_alarm_on_sensible_rules(condition: str) -> None:
    assert codes(rule("r", condition)) == []


@pytest.mark.parametrize(
    ("later", "shadowed"),
    [
        ("applicant.age < 16", True),
        ("applicant.age < 18 and bureau.ccj_count_6y > 0", True),
        ("applicant.age <= 17", True),
        ("applicant.age < 21", False),
        ("bureau.ccj_count_6y > 0", False),
    ],
)
def test_it_finds_rules_shadowed_by_an_earlier_decline_gate(later: str, shadowed: bool) -> None:
    found = codes(
        rule("under_18", "applicant.age < 18", order=10),
        rule("later", later, action="refer", order=20),
    )
    assert (("warning", "shadowed", "later") in found) == shadowed


def test_a_refer_rule_does_not_shadow_anything() -> None:
    found = codes(
        rule("first", "applicant.age < 18", action="refer", order=10),
        rule("later", "applicant.age < 16", action="refer", order=20),
    )
    assert found == []


def test_disabled_rules_are_not_analysed() -> None:
    assert codes(rule("r", "false", enabled=False)) == [("warning", "no_rules", "")]


@pytest.mark.parametrize(
    ("approve", "decline", "expected"),
    [
        (0.08, 0.25, None),
        (0.30, 0.25, ("error", "cutoff_overlap", "")),
        (0.10, 0.10, ("warning", "cutoff_no_refer_band", "")),
        (-0.01, 0.25, ("error", "cutoff_gap", "")),
        (0.08, 1.5, ("error", "cutoff_gap", "")),
    ],
)
def test_it_checks_the_cutoffs_for_overlaps_and_gaps(
    approve: float, decline: float, expected: tuple | None
) -> None:
    found = codes(*BUILTIN_RULES, approve=approve, decline=decline)
    assert found == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("action", "parameter", "expected"),
    [
        ("adjust_score", None, "parameter_required"),
        ("adjust_score", 1.5, "parameter_range"),
        ("cap_amount", -5.0, "parameter_range"),
        ("decline", 3.0, "parameter_unused"),
        ("adjust_score", 0.02, None),
        ("cap_amount", 3000.0, None),
    ],
)
def test_it_checks_action_parameters(
    action: str, parameter: float | None, expected: str | None
) -> None:
    found = [
        c
        for _, c, _ in codes(
            rule("r", "bureau.searches_6m > 3", action=action, parameter=parameter)
        )
    ]
    assert found == ([] if expected is None else [expected])


def test_it_requires_catalogued_reason_codes_and_unique_keys() -> None:
    found = codes(
        rule("r", "bureau.searches_6m > 3", reason="NOT_A_CODE"), rule("r", "bureau.score < 300")
    )
    assert ("error", "unknown_reason_code", "r") in found and (
        "error",
        "duplicate_key",
        "r",
    ) in found
