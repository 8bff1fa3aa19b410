"""On generated traffic: injected income drift raises the income features' alerts and no others;
undrifted traffic raises (almost) none — the false-alarm rate is measured over 20 seeds and
reported in docs/monitoring.md. No database: the checks and the default rules on arrays."""

from __future__ import annotations

from typing import Any

from modeling.features import FEATURE_NAMES, SPECS
from modeling.synthetic import training_data
from monitoring import checks
from monitoring.defaults import firing
from tests.monitoring.conftest import live_cases

LIVE_N = 500
INCOME_FEATURES = {"annual_income", "loan_to_income", "disposable_income"}
# Existing debt follows the income people had before the shock (modeling/synthetic.py), so an
# income cut moves debt-to-income too — but 45% of applicants have no debt, so at -30% its PSI
# is ~0.07-0.09: it moves, and may or may not cross the 0.1 band.
MAY_ALERT = {"debt_to_income"}


def measure(profile: dict[str, Any], scorer: Any, *, seed: int, income: float = 1.0) -> list[checks.Measurement]:
    X, _, _ = training_data(live_cases(LIVE_N, seed=seed, income=income))
    return checks.feature_checks(profile, X, FEATURE_NAMES, SPECS) + checks.score_checks(profile, scorer.score_matrix(X))


def drift_features(fired: dict[tuple[str, str], str]) -> set[str]:
    return {feature for (metric, feature) in fired if feature and metric.startswith("feature_")}


def test_it_alerts_on_the_income_features_under_income_drift(baseline_profile: Any, trained_scorer: Any) -> None:
    for seed in (101, 102, 103):
        ms = measure(baseline_profile, trained_scorer, seed=seed, income=0.7)
        fired = firing(ms)
        assert drift_features(fired) >= INCOME_FEATURES, (seed, fired)
        assert drift_features(fired) <= INCOME_FEATURES | MAY_ALERT, (seed, fired)  # nothing unrelated
        psi = {m.feature: m.value for m in ms if m.metric == checks.FEATURE_PSI}
        assert psi["annual_income"] >= 0.25  # significant
        assert psi["debt_to_income"] > 0.05  # it does move with income


def test_it_measures_the_false_alarm_rate_on_undrifted_traffic(baseline_profile: Any, trained_scorer: Any) -> None:
    seeds = range(1000, 1020)
    alarmed_seeds, alarms, checks_run = 0, 0, 0
    for seed in seeds:
        ms = measure(baseline_profile, trained_scorer, seed=seed)
        fired = firing(ms)
        checks_run += sum(1 for m in ms if m.metric in (checks.FEATURE_PSI, checks.FEATURE_KS, checks.FEATURE_CHI2_P, checks.SCORE_PSI))
        alarms += len(fired)
        alarmed_seeds += bool(fired)
        if fired:
            print(f"seed {seed}: {fired}")
    print(f"false alarms: {alarmed_seeds}/{len(seeds)} windows with any alert; {alarms}/{checks_run} checks")
    assert alarmed_seeds <= 2  # ≤ 10% of windows; measured 0/20 (docs/monitoring.md)
