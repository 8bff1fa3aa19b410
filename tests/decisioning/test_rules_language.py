"""The condition language and compilation: validation names the fault, evaluation is safe and
fails closed, and the built-in policy written in the language decides exactly like the Python one.
No database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from decisioning.engine.pipeline import decide
from decisioning.engine.policy import BUILTIN_POLICY, MissingValue
from decisioning.engine.types import Outcome, RuleAction
from decisioning.rules.builtin import APPROVE_MAX_PD, BUILTIN_RULES, DECLINE_MIN_PD
from decisioning.rules.compiler import (
    PolicyCache,
    RuleSpec,
    VersionSpec,
    compile_policy,
    content_hash,
)
from decisioning.rules.language import (
    FIELDS,
    ConditionError,
    compile_condition,
    parse,
    sample_context,
)
from modeling.features import build_vector, rule_context
from tests.decisioning.test_pipeline import FixedScorer, app, clean_signals

AS_OF = dt.date(2026, 12, 4)


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        (
            "bureau.ccj_count_6y > 0 and applicant.age < 21",
            ("bureau.ccj_count_6y", "applicant.age"),
        ),
        ('kyc.status == "fail"', ("kyc.status",)),
        ("not applicant.uk_resident", ("applicant.uk_resident",)),
        (
            "loan.purpose in ['car', 'wedding'] or loan.requested_amount >= 20000",
            ("loan.purpose", "loan.requested_amount"),
        ),
        ("applicant.age in [18..25]", ("applicant.age",)),
        ("'bureau' in signals.missing", ("signals.missing",)),
        (
            "features.debt_to_income > 0.5 and model.pd > 0.1",
            ("features.debt_to_income", "model.pd"),
        ),
        ("len(signals.missing) > 1", ("signals.missing",)),
        ("bureau.score < 500\n  and fraud.fraud_score > 50", ("bureau.score", "fraud.fraud_score")),
    ],
)
def test_it_accepts_readable_conditions_and_lists_what_they_read(
    text: str, reads: tuple[str, ...]
) -> None:
    assert parse(text).reads == reads


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("bureau.ccj > 0", "Unknown field 'bureau.ccj'"),
        ("bureau.ccj > 0", "Did you mean"),
        ("applicant.salary > 30000", "Unknown field 'applicant.salary'"),
        ("applicant > 3", "'applicant' is a group of fields"),
        ("applicant.age > 18 &&", "Write 'and' instead of '&&'"),
        ("applicant.age = 18", "Use '=='"),
        ("applicant.age >", "Syntax error"),
        ("(applicant.age > 18", "Syntax error"),
        ("kyc.status > 3", "Type error"),
        ("applicant.age + 1", "must be true or false"),
        ("bureau.score == null", "null"),
        ("rand(100) > 50", "Unknown function 'rand'"),
        ("date('now') > date('2020-01-01')", "Unknown function 'date'"),
        ("", "required"),
        ("applicant.age > 1 and " * 60 + "true", "at most"),
    ],
)
def test_it_names_the_fault_in_an_invalid_condition(text: str, fragment: str) -> None:
    with pytest.raises(ConditionError) as e:
        parse(text)
    assert fragment in str(e.value)


def test_it_reports_the_unknown_field_and_where_it_is() -> None:
    with pytest.raises(ConditionError) as e:
        parse("applicant.age > 18 and bureau.cjj_count_6y > 0")
    assert e.value.field == "bureau.cjj_count_6y" and e.value.column == 24
    assert "bureau.ccj_count_6y" in e.value.message  # the suggestion


@pytest.mark.parametrize(
    "text",
    [
        "applicant.__class__",
        "applicant.age.__class__.__bases__",
        "__import__('os').system('true')",
        "applicant['age'] > 1",
        "$.applicant.age > 1",
        "`${applicant.age}` == '41'",
        "open('/etc/passwd')",
        "eval('1')",
        "exec('x = 1')",
        "getattr(applicant, 'age')",
    ],
)
def test_it_gives_no_way_into_python_internals(text: str) -> None:
    with pytest.raises(ConditionError):
        parse(text)


def test_it_evaluates_without_python_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("eval/exec/compile must not be used")

    condition, _ = compile_condition("bureau.ccj_count_6y > 0 and applicant.age < 21")
    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    assert condition({"bureau": {"ccj_count_6y": 1}, "applicant": {"age": 20.0}}) is True
    assert condition({"bureau": {"ccj_count_6y": 0}, "applicant": {"age": 20.0}}) is False


def test_it_cannot_reach_objects_put_in_the_context() -> None:
    condition, _ = compile_condition('applicant.postcode == "LS1 4AP"')

    class Sneaky:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("a Python method was called")

    with pytest.raises(TypeError):  # the VM refuses foreign objects; it never calls their methods
        condition({"applicant": {"postcode": Sneaky()}})


@pytest.mark.parametrize(
    ("ctx", "error"),
    [
        ({"bureau": {"ccj_count_6y": None}, "applicant": {"age": 30.0}}, MissingValue),
        ({"applicant": {"age": 30.0}}, MissingValue),
        ({"bureau": {"ccj_count_6y": "three"}, "applicant": {"age": 30.0}}, ValueError),
    ],
)
def test_it_raises_what_the_pipeline_turns_into_a_refer(ctx: dict[str, Any], error: type) -> None:
    condition, _ = compile_condition("bureau.ccj_count_6y > 0 and applicant.age < 21")
    with pytest.raises(error):
        condition(ctx)


def _spec(*rules: RuleSpec, approve: float = 0.1, decline: float = 0.3) -> VersionSpec:
    return VersionSpec(label="t-v1", approve_max_pd=approve, decline_min_pd=decline, rules=rules)


def test_a_rule_that_errors_at_run_time_refers_with_its_name_and_why() -> None:
    policy = compile_policy(
        _spec(
            RuleSpec(
                "ccj_young", "CCJ and young", "bureau.ccj_count_6y > 0", "decline", "RECENT_CCJ"
            )
        )
    )
    a = app()
    s = dataclasses.replace(clean_signals(a), bureau=None)
    result = decide(a, signals=s, policy=policy, scorer=FixedScorer(0.01), as_of=AS_OF)
    assert result.outcome == Outcome.REFER  # missing bureau: refer, never approve
    rr = result.rule_results[0]
    assert rr.rule_id == "ccj_young" and rr.rule_version == "t-v1" and not rr.fired
    assert "bureau.ccj_count_6y is missing" in rr.error


def test_a_feature_that_is_missing_gives_a_rule_error_reason() -> None:
    policy = compile_policy(
        _spec(
            RuleSpec(
                "util", "High utilisation", "features.revolving_utilisation > 0.9", "refer", "X"
            )
        )
    )
    a = app()
    s = dataclasses.replace(clean_signals(a), bureau=None)
    result = decide(a, signals=s, policy=policy, scorer=FixedScorer(0.01), as_of=AS_OF)
    codes = [r.code for r in result.reasons]
    assert result.outcome == Outcome.REFER and "RULE_ERROR" in codes
    assert any("util" in r.description and "missing" in r.description for r in result.reasons)


def test_every_rule_result_records_id_version_inputs_action_and_reason() -> None:
    policy = compile_policy(
        _spec(
            RuleSpec(
                "young_ccj",
                "Young with CCJ",
                "bureau.ccj_count_6y >= 0 and applicant.age < 99",
                "refer",
                "RECENT_CCJ",
                order=1,
            ),
            RuleSpec(
                "cap",
                "Cap",
                "loan.requested_amount > 1000",
                "cap_amount",
                "AMOUNT_CAPPED",
                order=2,
                parameter=3000,
            ),
        )
    )
    a = app()
    result = decide(
        a, signals=clean_signals(a), policy=policy, scorer=FixedScorer(0.01), as_of=AS_OF
    )
    first, cap = result.rule_results
    assert (first.rule_id, first.rule_version, first.fired, first.action, first.reason_code) == (
        "young_ccj",
        "t-v1",
        True,
        RuleAction.REFER,
        "RECENT_CCJ",
    )
    assert (
        set(first.inputs) == {"bureau.ccj_count_6y", "applicant.age"}
        and first.inputs["applicant.age"] == 41
    )
    assert cap.parameter == 3000.0 and cap.inputs == {"loan.requested_amount": 5000.0}


def test_disabled_rules_are_not_compiled_and_order_is_respected() -> None:
    policy = compile_policy(
        _spec(
            RuleSpec("b", "B", "true", "refer", "X", order=20),
            RuleSpec("a", "A", "true", "refer", "X", order=10),
            RuleSpec("off", "Off", "true", "decline", "X", order=5, enabled=False),
        )
    )
    assert [r.id for r in policy.rules] == ["a", "b"]


def test_the_builtin_rules_in_the_language_decide_like_the_builtin_policy() -> None:
    from modeling.synthetic import generate

    compiled = compile_policy(VersionSpec("lang-1", APPROVE_MAX_PD, DECLINE_MIN_PD, BUILTIN_RULES))
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    cases = generate(400, seed=5, start=end - dt.timedelta(days=30), end=end)
    outcomes = set()
    for i, case in enumerate(cases):
        signals = case.signals if hasattr(case, "signals") else clean_signals(case.app)
        if i % 7 == 0:
            signals = dataclasses.replace(signals, bureau=None)
        pd = (i % 40) / 100
        a = decide(
            case.app, signals=signals, policy=BUILTIN_POLICY, scorer=FixedScorer(pd), as_of=AS_OF
        )
        b = decide(case.app, signals=signals, policy=compiled, scorer=FixedScorer(pd), as_of=AS_OF)
        assert (a.outcome, [r.code for r in a.reasons], a.pd) == (
            b.outcome,
            [r.code for r in b.reasons],
            b.pd,
        )
        assert [(r.rule_id, r.fired, r.inputs) for r in a.rule_results] == [
            (r.rule_id, r.fired, r.inputs) for r in b.rule_results
        ]
        outcomes.add(a.outcome)
    assert outcomes == {Outcome.APPROVE, Outcome.REFER, Outcome.DECLINE}


def test_the_field_catalogue_is_exactly_the_rule_context() -> None:
    a = app()
    s = clean_signals(a)
    ctx = rule_context(a, s, build_vector(a, s, as_of=AS_OF), 0.05)
    assert {f"{ns}.{k}" for ns, values in ctx.items() for k in values} == set(FIELDS)
    sample = sample_context()
    assert {ns: set(v) for ns, v in sample.items()} == {ns: set(v) for ns, v in ctx.items()}


def test_the_content_hash_ignores_the_label_and_sees_every_change() -> None:
    base = VersionSpec("p-v1", 0.08, 0.25, BUILTIN_RULES)
    assert content_hash(base) == content_hash(dataclasses.replace(base, label="p-v9"))
    changed_rule = (
        dataclasses.replace(BUILTIN_RULES[0], condition="sanctions.sanctions_hit == true"),
        *BUILTIN_RULES[1:],
    )
    for other in (
        dataclasses.replace(base, approve_max_pd=0.07),
        dataclasses.replace(base, rules=changed_rule),
        dataclasses.replace(base, rules=BUILTIN_RULES[1:]),
        dataclasses.replace(base, reason_texts={"UNDER_18": "new wording"}),
    ):
        assert content_hash(other) != content_hash(base)


def test_the_policy_cache_compiles_once_per_version_and_hash() -> None:
    cache = PolicyCache(size=2)
    spec = VersionSpec("p-v1", 0.08, 0.25, BUILTIN_RULES)
    first = cache.get(1, "h1", lambda: spec)
    assert cache.get(1, "h1", lambda: pytest.fail("recompiled")) is first
    cache.get(1, "h2", lambda: spec)
    cache.get(2, "h1", lambda: spec)  # evicts (1, h1)
    assert cache.compilations == 3
    cache.get(1, "h1", lambda: spec)
    assert cache.compilations == 4
