"""The column-wise rule evaluator and the vectorised chunk decision equal per-row `resolve`.

Property-style: many generated applications, bent towards the edges (rule thresholds, missing
signals, zero income, boundary ages, floats that only a decimal comparison gets right), under
every seeded policy (the Python built-in policy and the rule-set version the demo publishes) and
a policy of tricky hand-written expressions. Every row's outcome, reason codes, PD, interval,
approved amount, degraded flag and every rule's fired/error flag must be identical. No database.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from decisioning.batches import columns
from decisioning.batches.engine import BatchItem, decide_chunk, rule_flags
from decisioning.engine.pipeline import resolve
from decisioning.engine.policy import BUILTIN_POLICY, Policy, Rule
from decisioning.engine.types import (
    FeatureVector,
    FraudSignal,
    KycSignal,
    KycStatus,
    RuleAction,
    SanctionsSignal,
    ScoreResult,
    Signals,
)
from decisioning.rules.builtin import BUILTIN_RULES
from decisioning.rules.compiler import RuleSpec, VersionSpec, compile_policy
from decisioning.rules.language import compile_condition
from decisioning.rules.vectorised import (
    VECTOR_POLICIES,
    Untranslatable,
    VectorPolicy,
    columns_from_contexts,
    compile_rule,
    evaluate_chunk,
    parse_expression,
    probe_contexts,
)
from modeling.features import FEATURE_NAMES, FEATURE_VERSION, build_matrix, rule_context
from modeling.synthetic import generate

END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

TRICKY: tuple[tuple[str, str, float | None], ...] = (
    # condition, action, parameter
    ("applicant.age in [18..21)", "refer", None),
    ("features.loan_to_income * 100 > 35", "adjust_score", 0.03),
    ("bureau.revolving_utilisation >= 0.9 and bureau.searches_6m > 3", "refer", None),
    ("!(kyc.status in ['pass']) or fraud.device_risk == 'high'", "refer", None),
    ("'bureau' in signals.missing and applicant.annual_income < 20000", "decline", None),
    ("applicant.monthly_expenditure / applicant.annual_income * 12 > 0.5", "refer", None),
    ("abs(features.disposable_income) < 50", "refer", None),
    ("-bureau.score + 1000 > 500", "adjust_score", -0.01),
    ("model.pd > 0.2 and applicant.employment_status != 'employed'", "decline", None),
    ("loan.requested_amount > 15000", "cap_amount", 15000.0),
    ("len(signals.missing) >= 2", "refer", None),
    ("startsWith(applicant.postcode, 'SW')", "adjust_score", 0.002),  # not translated: per row
    ("bureau.ccj_count_6y + bureau.defaults_count_6y == 1", "refer", None),
    ("applicant.uk_resident == false", "decline", None),
    ("fraud.fraud_score in [80, 81, 82]", "refer", None),
    ("loan.term_months not in [12, 24]", "adjust_score", 0.005),
    ("bureau.total_unsecured_balance > applicant.existing_debt * 1.05", "refer", None),
    ("bureau.revolving_utilisation == 0.3", "adjust_score", 0.001),
    (
        "features.debt_to_income * 3 == 0.9 or !sanctions.pep_hit and kyc.identity_score > 60.5",
        "adjust_score",
        -0.002,
    ),
    ("applicant.months_at_address in [1..6] or applicant.dependants > 3", "refer", None),
    ("applicant.months_at_address in ]0..6]", "refer", None),  # ZEN's reversed bracket: per row
)


def tricky_policy() -> Policy:
    rules = tuple(
        RuleSpec(
            key=f"t{i}",
            name=f"tricky {i}",
            condition=c,
            action=a,
            reason_code=f"T{i}",
            order=i,
            parameter=p,
        )
        for i, (c, a, p) in enumerate(TRICKY)
    )
    return compile_policy(
        VersionSpec(label="tricky-1", approve_max_pd=0.06, decline_min_pd=0.2, rules=rules)
    )


def demo_policy() -> Policy:
    return compile_policy(
        VersionSpec(
            label="personal-loan-v1", approve_max_pd=0.08, decline_min_pd=0.25, rules=BUILTIN_RULES
        )
    )


POLICIES = {"builtin": lambda: BUILTIN_POLICY, "demo": demo_policy, "tricky": tricky_policy}


# ---- generated applications, bent towards the edges ------------------------------------------------


def edgy_items(n: int, seed: int) -> list[BatchItem]:
    rng = random.Random(seed)
    out = []
    for i, c in enumerate(generate(n, seed=seed, start=END - dt.timedelta(days=30), end=END)):
        app, s = c.app, c.signals
        as_of = app.submitted_at.date() if app.submitted_at else END.date()
        r = rng.random
        if r() < 0.1:  # a birthday today, or tomorrow: exactly 18 / not yet 18
            years = rng.choice([18, 21])
            born = (
                as_of.replace(year=as_of.year - years)
                if not (as_of.month == 2 and as_of.day == 29)
                else app.date_of_birth
            )
            app = replace(app, date_of_birth=born + dt.timedelta(days=rng.choice([0, 1])))
        if r() < 0.05:
            app = replace(app, annual_income=Decimal(rng.choice([0, 1000, 999, 20000])))
        if r() < 0.05:
            app = replace(
                app,
                requested_amount=Decimal(rng.choice(["15000", "15000.01", "1000.5"])),
                term_months=rng.choice([1, 12, 24, 120]),
            )
        if r() < 0.05:
            app = replace(app, uk_resident=False)
        if r() < 0.03:
            app = replace(app, bankrupt_or_iva=True)
        if r() < 0.05:
            app = replace(
                app, months_at_address=rng.choice([0, 6, 7]), dependants=rng.choice([3, 4])
            )
        b, k, sa, f = s.bureau, s.kyc, s.sanctions, s.fraud
        if b is not None and r() < 0.2:
            b = replace(
                b,
                revolving_utilisation=rng.choice([0.9, 0.3, 0.1 + 0.2, 1.2, 0.0]),
                ccj_count_6y=rng.choice([0, 1]),
                defaults_count_6y=rng.choice([0, 1]),
                searches_6m=rng.choice([3, 4]),
                score=rng.choice([0, 500, 999]),
            )
        if k is not None and r() < 0.1:
            k = KycSignal(
                status=rng.choice(list(KycStatus)), identity_score=rng.choice([0, 60, 61, 100])
            )
        if sa is not None and r() < 0.05:
            sa = SanctionsSignal(sanctions_hit=r() < 0.5, pep_hit=r() < 0.5)
        if f is not None and r() < 0.1:
            f = FraudSignal(
                fraud_score=rng.choice([79, 80, 81, 82, 100]),
                device_risk=rng.choice(["low", "high"]),
            )
        # Missing signals, alone and together.
        b = None if r() < 0.08 else b
        k = None if r() < 0.05 else k
        sa = None if r() < 0.05 else sa
        f = None if r() < 0.05 else f
        out.append(
            BatchItem(
                item=i,
                app=app,
                signals=Signals(bureau=b, kyc=k, sanctions=sa, fraud=f),
                as_of=as_of,
            )
        )
    return out


def reference(item: BatchItem, policy: Policy, scorer: Any) -> Any:
    vector = FeatureVector(
        version=FEATURE_VERSION,
        names=FEATURE_NAMES,
        values=tuple(build_matrix([(item.app, item.signals, item.as_of)])[0].tolist()),
    )
    score = None
    if scorer is not None:
        pd = float(scorer.score_matrix(np.asarray([vector.values], dtype=np.float32))[0])
        lo, hi = scorer.interval.interval(pd)
        score = ScoreResult(
            model_name=scorer.model_name,
            model_version=scorer.model_version,
            model_hash=scorer.model_hash,
            pd=pd,
            pd_lower=lo,
            pd_upper=hi,
            contributions=(),
        )
    return resolve(item.app, signals=item.signals, policy=policy, features=vector, score=score)


# ---- the properties --------------------------------------------------------------------------------


def test_it_builds_the_catalogue_matrix_bit_for_bit() -> None:
    items = edgy_items(1500, seed=21)
    cases = [(it.app, it.signals, it.as_of) for it in items]
    X = columns.feature_matrix(columns.extract(cases))
    assert X is not None
    assert np.array_equal(X, build_matrix(cases), equal_nan=True)
    assert np.isnan(X).any()  # missing signals were exercised


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("with_model", [True, False])
def test_it_decides_every_row_as_resolve_does(
    name: str, with_model: bool, trained_scorer: Any
) -> None:
    policy = POLICIES[name]()
    scorer = trained_scorer if with_model else None
    items = edgy_items(
        900 if with_model else 300, seed=zlib.crc32(f"{name}-{with_model}".encode()) % 1000
    )
    out = decide_chunk(items, policy=policy, scorer=scorer)
    fired, error = rule_flags(items, policy=policy, scorer=scorer)
    outcomes = set()
    for i, item in enumerate(items):
        one = reference(item, policy, scorer)
        expected_pd = None if one.pd is None else one.pd
        assert out.outcome[i] == one.outcome.value, (i, out.reasons[i], one.reasons)
        assert out.reasons[i] == " ".join(r.code for r in one.reasons)
        assert (out.pd[i], out.pd_lower[i], out.pd_upper[i]) == (
            expected_pd,
            one.pd_lower,
            one.pd_upper,
        )
        assert out.approved_amount[i] == one.approved_amount
        assert fired[i].tolist() == [r.fired for r in one.rule_results], i
        assert error[i].tolist() == [bool(r.error) for r in one.rule_results], i
        assert one.degraded == bool(item.signals.missing or scorer is None)
        outcomes.add(one.outcome.value)
    assert outcomes == ({"approve", "refer", "decline"} if with_model else {"refer", "decline"})
    # The vectorised path did the work: few rows fell back to resolve row by row.
    assert out.per_row <= len(items) * 0.15, out.per_row


def test_it_translates_every_seeded_rule_and_the_tricky_ones_but_functions() -> None:
    for policy in (BUILTIN_POLICY, demo_policy()):
        assert all(r.evaluate is not None for r in VECTOR_POLICIES.get(policy).rules)
    tricky = VECTOR_POLICIES.get(tricky_policy())
    per_row = [r.rule.id for r in tricky.rules if r.evaluate is None]
    assert per_row == ["t11", "t20"]  # startsWith() and ]a..b]: left to Rule.evaluate


@pytest.mark.parametrize(
    "condition",
    [
        "bureau.revolving_utilisation == 0.3",  # 0.1 + 0.2 is 0.3 in ZEN's decimals
        "bureau.revolving_utilisation > 0.3",
        "features.loan_to_income * 100 > 35",
        "applicant.annual_income / applicant.dependants > 1000",  # division by zero
        "applicant.age in [17..18)",
        "not applicant.uk_resident or applicant.age < 18",
        "applicant.age >= 18 and !(kyc.status == 'pass')",
        "kyc.status not in ['pass', 'refer']",
        "'kyc' in signals.missing or len(signals.missing) > 1",
        "-applicant.age < -17",
        "applicant.existing_debt - applicant.annual_income * 0.5 >= 0",
        "abs(features.disposable_income - 100) <= 0.5",
        "true",
        "1 > 2",
        "model.pd * 2 > 0.3",
    ],
)
def test_it_evaluates_hand_written_expressions_as_the_rule_does(condition: str) -> None:
    fn, reads = compile_condition(condition)
    rule = Rule(
        id="r",
        version="1",
        name="r",
        action=RuleAction.REFER,
        reason_code="R",
        reads=reads,
        condition=fn,
    )
    vr = compile_rule(0, rule, Policy(version="x", rules=(rule,), cutoffs=BUILTIN_POLICY.cutoffs))
    assert vr.evaluate is not None, vr.reason
    contexts = probe_contexts(reads, [0.3, 35.0, 18.0, 0.15, 100.0, 0.5], 400, seed=7)
    # Plus values that only an exact comparison gets right.
    for ctx in contexts[:40]:
        ctx["bureau"]["revolving_utilisation"] = 0.1 + 0.2
        ctx["features"]["loan_to_income"] = 0.35
        ctx["applicant"]["dependants"] = 0
    cols = columns_from_contexts(contexts, reads)
    chunk = evaluate_chunk(
        VectorPolicy(
            rule_policy := Policy(version="x", rules=(rule,), cutoffs=BUILTIN_POLICY.cutoffs), (vr,)
        ),
        cols,
        len(contexts),
    )
    assert rule_policy.rules == (rule,)
    decided = 0
    for i, ctx in enumerate(contexts):
        if chunk.recheck[i, 0]:
            continue
        decided += 1
        real = rule.evaluate(ctx)
        assert (bool(chunk.fired[i, 0]), bool(chunk.error[i, 0])) == (
            real.fired,
            bool(real.error),
        ), (i, ctx)
    assert decided >= len(contexts) // 2


def test_it_leaves_close_calls_to_the_per_row_evaluator() -> None:
    fn, reads = compile_condition("bureau.revolving_utilisation > 0.3")
    rule = Rule(
        id="r",
        version="1",
        name="r",
        action=RuleAction.REFER,
        reason_code="R",
        reads=reads,
        condition=fn,
    )
    vr = compile_rule(0, rule, BUILTIN_POLICY)
    ctx = {"bureau": {"revolving_utilisation": 0.1 + 0.2}}
    chunk = evaluate_chunk(
        VectorPolicy(BUILTIN_POLICY, (vr,)), columns_from_contexts([ctx], reads), 1
    )
    assert chunk.recheck[0, 0]  # a float says 0.30000000000000004 > 0.3; ZEN's decimals say no
    assert rule.evaluate(ctx).fired is False


def test_it_refuses_a_translation_its_rule_disagrees_with() -> None:
    def never(ctx: Any) -> bool:
        return False

    never.expression = "applicant.age > 0"  # type: ignore[attr-defined]
    rule = Rule(
        id="r",
        version="1",
        name="r",
        action=RuleAction.REFER,
        reason_code="R",
        reads=("applicant.age",),
        condition=never,
    )
    vr = compile_rule(0, rule, BUILTIN_POLICY)
    assert vr.evaluate is None and vr.reason.startswith("probe mismatch")


@pytest.mark.parametrize(
    "condition",
    [
        "1e3 > 5",
        "applicant.age in [1,]",
        "applicant.age ^ 2 > 4",
        "applicant.age % 2 == 0",
        "applicant.age > 3 ? true : false",
        "applicant.age in ]1..5]",
        "max([applicant.age, 7]) > 8",
        "some(signals.missing, # == 'kyc')",
    ],
)
def test_it_does_not_translate_outside_its_subset(condition: str) -> None:
    with pytest.raises(Untranslatable):
        tree = parse_expression(condition)
        from decisioning.rules.vectorised import _compile

        _compile(tree)


def test_rule_context_columns_match_the_per_row_context(trained_scorer: Any) -> None:
    items = edgy_items(300, seed=3)
    cases = [(it.app, it.signals, it.as_of) for it in items]
    cols = columns.extract(cases)
    X = columns.feature_matrix(cols)
    assert X is not None
    pd = np.linspace(0.0, 1.0, len(items))
    from decisioning.rules.language import FIELDS

    reads = tuple(FIELDS)
    got = columns.rule_columns(cols, X, pd, reads)
    contexts = [
        rule_context(
            it.app,
            it.signals,
            FeatureVector(FEATURE_VERSION, FEATURE_NAMES, tuple(X[i].tolist())),
            float(pd[i]),
        )
        for i, it in enumerate(items)
    ]
    want = columns_from_contexts(contexts, reads)
    for path in reads:
        a, b = got[path], want[path]
        if path == "signals.missing":
            assert all(np.array_equal(a.values[s], b.values[s]) for s in b.values)
            continue
        null_a = np.zeros(len(items), bool) if a.null is None else a.null
        null_b = np.zeros(len(items), bool) if b.null is None else b.null
        assert np.array_equal(null_a, null_b), path
        assert np.array_equal(np.asarray(a.values)[~null_b], np.asarray(b.values)[~null_b]), path
