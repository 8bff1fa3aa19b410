"""Rule-set evaluation benchmark (issue 3): a 50-rule policy evaluated per application.

    .venv/bin/python bench/bench_rules.py [--apps 2000] [--repeat 3]

Engines, side by side on the same 50 rules and the same applications:
- `verdict (zen expressions)` — the chosen path: the policy compiled by `decisioning.rules.compiler`
  and run exactly as `decide` runs it (`Policy.evaluate`, every rule's result and inputs recorded);
- `zen decision table` — the same 50 conditions as one gorules JDM decision table (hit policy
  collect), one `ZenDecision.evaluate` per application;
- `rule-engine` and `cel-python` — if installed (`pip install rule-engine cel-python`), on a
  smaller sample because they are slow.
Prints a table and writes bench/out/rules.json. Target (DESIGN.md): well under 1 ms per application
on one core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zen

from decisioning.rules.builtin import APPROVE_MAX_PD, BUILTIN_RULES, DECLINE_MIN_PD
from decisioning.rules.checks import check_version
from decisioning.rules.compiler import RuleSpec, VersionSpec, compile_policy
from modeling.features import build_vector, rule_context
from modeling.synthetic import generate

# 40 realistic rules on top of the 10 built-in gates: thresholds, lists, compound conditions.
EXTRA = [
    ("refer", "bureau.score < 400"),
    ("refer", "bureau.defaults_count_6y > 1"),
    ("refer", "bureau.arrears_count_12m >= 3"),
    ("refer", "bureau.searches_6m > 6"),
    ("refer", "bureau.revolving_utilisation > 0.95"),
    ("refer", "bureau.total_unsecured_balance > 40000"),
    ("refer", "kyc.identity_score < 50"),
    ("refer", 'fraud.device_risk == "high"'),
    ("refer", "fraud.fraud_score >= 60 and applicant.months_at_address < 6"),
    ("refer", "applicant.age < 21 and bureau.ccj_count_6y > 0"),
    ("refer", "applicant.age >= 75"),
    ("refer", 'applicant.employment_status == "unemployed" and loan.requested_amount > 3000'),
    ("refer", 'applicant.employment_status == "student" and loan.requested_amount > 5000'),
    ("refer", 'applicant.employment_status == "self_employed" and applicant.months_in_employment < 12'),
    ("refer", "applicant.months_in_employment < 3"),
    ("refer", "applicant.months_at_address < 3"),
    ("refer", "applicant.dependants > 5"),
    ("refer", 'loan.purpose in ["wedding", "holiday"] and loan.requested_amount > 15000'),
    ("refer", 'loan.purpose == "other" and loan.requested_amount > 10000'),
    ("refer", "features.debt_to_income > 1.0"),
    ("refer", "features.loan_to_income > 0.6"),
    ("refer", "features.disposable_income < 150"),
    ("refer", "features.monthly_repayment > 1500"),
    ("refer", "model.pd > 0.2 and bureau.searches_6m > 3"),
    ("refer", "'bureau' in signals.missing"),
    ("refer", "len(signals.missing) > 1"),
    ("refer", "applicant.annual_income < 12000"),
    ("refer", 'applicant.residential_status == "other" and applicant.months_at_address < 12'),
    ("refer", "loan.term_months > 60"),
    ("refer", "loan.requested_amount > 25000"),
    ("adjust_score", "bureau.score > 850"),
    ("adjust_score", "bureau.revolving_utilisation > 0.8"),
    ("adjust_score", "applicant.months_in_employment > 120"),
    ("adjust_score", 'applicant.residential_status in ["owner", "mortgage"]'),
    ("adjust_score", "bureau.searches_6m >= 4"),
    ("cap_amount", "features.loan_to_income > 0.4"),
    ("cap_amount", 'applicant.employment_status == "student"'),
    ("cap_amount", "bureau.score < 550"),
    ("cap_amount", "applicant.age < 21"),
    ("cap_amount", "features.disposable_income < 300"),
]
PARAMS = {"adjust_score": 0.01, "cap_amount": 5000.0}


def fifty_rules() -> VersionSpec:
    rules = list(BUILTIN_RULES)
    for i, (action, condition) in enumerate(EXTRA):
        rules.append(RuleSpec(key=f"r{i:02d}", name=f"Rule {i}", condition=condition, action=action,
                              reason_code="X", order=200 + i, parameter=PARAMS.get(action)))
    assert len(rules) == 50
    return VersionSpec("bench-v1", APPROVE_MAX_PD, DECLINE_MIN_PD, tuple(rules))


def percentiles(us: list[float]) -> dict[str, float]:
    ordered = sorted(us)
    return {
        "median_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 1),
        "mean_us": round(statistics.fmean(ordered), 1),
        "n": len(ordered),
    }


def timed(fn: Callable[[Any], Any], items: list[Any], repeat: int) -> list[float]:
    for item in items[: min(200, len(items))]:
        fn(item)  # warm up
    out = []
    for _ in range(repeat):
        for item in items:
            t0 = time.perf_counter_ns()
            fn(item)
            out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def jdm_table(spec: VersionSpec) -> str:
    rules = [{"_id": r.key, "cond": r.condition, "out": json.dumps(r.key)} for r in spec.rules]
    graph = {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "Application", "position": {"x": 0, "y": 0}},
            {"id": "tbl", "type": "decisionTableNode", "name": "Policy", "position": {"x": 200, "y": 0},
             "content": {"hitPolicy": "collect", "inputs": [{"id": "cond", "name": "Condition"}],
                         "outputs": [{"id": "out", "name": "Rule", "field": "rule"}], "rules": rules}},
            {"id": "out", "type": "outputNode", "name": "Fired", "position": {"x": 400, "y": 0}},
        ],
        "edges": [{"id": "e1", "sourceId": "in", "targetId": "tbl"}, {"id": "e2", "sourceId": "tbl", "targetId": "out"}],
    }
    return json.dumps(graph)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slow-apps", type=int, default=100, help="applications for the slow engines")
    args = parser.parse_args()

    spec = fifty_rules()
    errors = [f for f in check_version(spec) if f.severity == "error"]
    assert not errors, errors
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    cases = generate(args.apps, seed=3, start=end - dt.timedelta(days=30), end=end)
    contexts = [rule_context(c.app, c.signals, build_vector(c.app, c.signals, as_of=end.date()), 0.05 + (i % 20) / 100)
                for i, c in enumerate(cases)]

    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    policy = compile_policy(spec)
    results["compile_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    engines: dict[str, dict[str, Any]] = {}
    fired_ours = [sum(r.fired for r in policy.evaluate(ctx)) for ctx in contexts]
    engines["verdict (zen expressions, Policy.evaluate)"] = percentiles(timed(policy.evaluate, contexts, args.repeat))

    decision = zen.ZenEngine().create_decision(jdm_table(spec))

    def table(ctx: Any) -> Any:
        return decision.evaluate(ctx)

    # The table cannot fail one rule at a time: a missing value in any condition raises for the
    # whole table, so it is measured on contexts with every signal present.
    complete = [ctx for ctx in contexts if not ctx["signals"]["missing"]]
    fired_table = [len(table(ctx)["result"]) for ctx in complete[:200]]
    engines["zen decision table (JDM, collect)"] = percentiles(timed(table, complete, args.repeat))
    agree = sum(1 for ctx, n in zip(complete[:200], fired_table, strict=False)
                if sum(r.fired for r in policy.evaluate(ctx)) == n)
    results["table_agrees_with_verdict"] = f"{agree}/{len(fired_table)}"

    try:
        import rule_engine

        re_rules = [rule_engine.Rule(r.condition.replace("'", '"').replace("len(signals.missing)",
                                                                              "signals.missing.length"))
                    for r in spec.rules]

        def run_rule_engine(ctx: Any) -> list[bool]:
            out = []
            for rule in re_rules:
                try:
                    out.append(rule.matches(ctx))
                except rule_engine.EngineError:
                    out.append(False)
            return out

        engines["rule-engine (pure Python)"] = percentiles(timed(run_rule_engine, contexts[: args.slow_apps], 1))
    except ImportError:
        engines["rule-engine (pure Python)"] = {"skipped": "pip install rule-engine"}
    try:
        import celpy

        env = celpy.Environment()
        programs = []
        for r in spec.rules:
            text = (r.condition.replace(" and ", " && ").replace(" or ", " || ").replace("not ", "!")
                    .replace("len(signals.missing)", "size(signals.missing)"))
            programs.append(env.program(env.compile(text)))

        def run_cel(ctx: Any) -> list[Any]:
            activation = celpy.json_to_cel(ctx)
            out = []
            for program in programs:
                try:
                    out.append(program.evaluate(activation))
                except Exception:
                    out.append(False)
            return out

        engines["cel-python (pure Python)"] = percentiles(timed(run_cel, contexts[: args.slow_apps], 1))
    except ImportError:
        engines["cel-python (pure Python)"] = {"skipped": "pip install cel-python"}

    results.update({
        "rules": len(spec.rules),
        "applications": len(contexts),
        "mean_rules_fired": round(statistics.fmean(fired_ours), 2),
        "engines": engines,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores_used": 1, "load_average_1m": round(os.getloadavg()[0], 2),
                    "cpus": os.cpu_count()},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (p99 suffers on a busy machine)")
    print(f"{len(spec.rules)} rules, {len(contexts)} applications, compile {results['compile_ms']} ms, "
          f"{results['mean_rules_fired']} rules fire on average")
    print(f"{'engine':<46} {'median µs':>10} {'p99 µs':>10} {'n':>7}")
    for name, r in engines.items():
        if "skipped" in r:
            print(f"{name:<46} skipped ({r['skipped']})")
        else:
            print(f"{name:<46} {r['median_us']:>10} {r['p99_us']:>10} {r['n']:>7}")
    out = Path(__file__).resolve().parent / "out" / "rules.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
