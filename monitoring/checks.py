"""The monitoring checks on arrays: live values against the model's training profile.

Framework-free (no Django), so the statistics are tested on generated data without a database,
and the job (`monitoring.services`) only loads rows and stores what these functions return.

Metric names are the vocabulary shared by the job, the alert rules, the dashboard and the docs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeling.features import FeatureSpec
from monitoring import stats

# feature drift (one point per feature)
FEATURE_PSI = "feature_psi"
FEATURE_KS = "feature_ks"  # value: KS statistic D; details: p_value
FEATURE_CHI2_P = "feature_chi2_p"  # value: p-value; details: statistic, dof
# data quality (one point per feature)
MISSING_RATE = "missing_rate"
MISSING_RATE_CHANGE = "missing_rate_change"  # live minus baseline, absolute
OUT_OF_RANGE_RATE = "out_of_range_rate"
UNSEEN_CATEGORY_RATE = "unseen_category_rate"
# score
SCORE_PSI = "score_psi"
SCORE_MEAN = "score_mean"
# outcomes of the engine
APPROVE_RATE, REFER_RATE, DECLINE_RATE = "approve_rate", "refer_rate", "decline_rate"
APPROVE_RATE_SHIFT, REFER_RATE_SHIFT, DECLINE_RATE_SHIFT = (
    "approve_rate_shift",
    "refer_rate_shift",
    "decline_rate_shift",
)
# operations
VOLUME = "volume"
VOLUME_RATIO = "volume_ratio"  # live count / mean count of the trailing windows
LATENCY_P50, LATENCY_P95, LATENCY_P99 = "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"
OVERRIDE_RATE = "override_rate"
# performance on matured loans (approved applications only)
AUC, GINI, BAD_RATE, CALIBRATION_RATIO = "auc", "gini", "bad_rate", "calibration_ratio"
# the audit chain: measured every 30 s by `audit.backlog`, not by the windowed job
AUDIT_UNSEALED_AGE = "audit_unsealed_age_s"

METRIC_LABELS: dict[str, str] = {
    FEATURE_PSI: "Feature PSI",
    FEATURE_KS: "Feature KS statistic",
    FEATURE_CHI2_P: "Feature chi-square p-value",
    MISSING_RATE: "Missing rate",
    MISSING_RATE_CHANGE: "Missing rate change vs baseline",
    OUT_OF_RANGE_RATE: "Out-of-range rate",
    UNSEEN_CATEGORY_RATE: "Unseen-category rate",
    SCORE_PSI: "Score (PD) PSI",
    SCORE_MEAN: "Mean PD",
    APPROVE_RATE: "Approval rate",
    REFER_RATE: "Refer rate",
    DECLINE_RATE: "Decline rate",
    APPROVE_RATE_SHIFT: "Approval rate shift vs trailing",
    REFER_RATE_SHIFT: "Refer rate shift vs trailing",
    DECLINE_RATE_SHIFT: "Decline rate shift vs trailing",
    VOLUME: "Decisions",
    VOLUME_RATIO: "Volume vs trailing mean",
    LATENCY_P50: "Latency P50 (ms)",
    LATENCY_P95: "Latency P95 (ms)",
    LATENCY_P99: "Latency P99 (ms)",
    OVERRIDE_RATE: "Override rate",
    AUC: "AUC (matured loans)",
    GINI: "Gini (matured loans)",
    BAD_RATE: "Bad rate (matured loans)",
    CALIBRATION_RATIO: "Observed / predicted bad rate",
    AUDIT_UNSEALED_AGE: "Oldest decision not yet sealed into the audit chain (s)",
}

OUTCOMES_NOTE = (
    "Outcomes exist only for approved applications: performance is measured on the approved "
    "population, so it says nothing about declined applicants (reject inference is out of scope)."
)


@dataclass(frozen=True, slots=True)
class Measurement:
    metric: str
    value: float | None
    feature: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _category_codes(spec: FeatureSpec | None) -> set[float]:
    return {float(code) for _, code in spec.categories} if spec is not None else set()


def _unseen_mask(values: np.ndarray, edges: Sequence[float], spec: FeatureSpec | None) -> np.ndarray:
    """Codes the catalogue does not know, or known codes the training data never had.

    Categorical bins are frozen at observed code + 0.5, so a code below the last edge that has
    no edge at code + 0.5 was absent from training. Codes above the last edge share the last bin
    and are counted as seen (the profile cannot tell them apart).
    """
    known = _category_codes(spec)
    seen_below = {round(e - 0.5, 6) for e in edges}
    last = edges[-1] if edges else -np.inf
    out = np.zeros(values.shape, dtype=bool)
    for i, v in enumerate(values):
        if np.isnan(v):
            continue
        if (known and float(v) not in known) or (v < last and round(float(v), 6) not in seen_below):
            out[i] = True
    return out


def feature_checks(
    profile: Mapping[str, Any],
    X: np.ndarray,
    feature_names: Sequence[str],
    specs: Mapping[str, FeatureSpec],
) -> list[Measurement]:
    """Drift (PSI, KS or chi-square) and data quality of each profiled feature in `X`."""
    out: list[Measurement] = []
    n_profile = int(profile.get("n", 0))
    n_live = int(X.shape[0])
    for j, name in enumerate(feature_names):
        base = profile["features"].get(name)
        if base is None or n_live == 0:
            continue
        col = np.asarray(X[:, j], dtype=np.float64)
        edges = base["edges"]
        fractions, missing = stats.bin_fractions(col, edges)
        psi = stats.psi_with_missing(base["fractions"], base["missing_rate"], fractions, missing)
        present = col[~np.isnan(col)]
        n_base = round(n_profile * (1.0 - base["missing_rate"]))
        hist = {
            "edges": edges,
            "baseline": base["fractions"],
            "current": fractions,
            "baseline_missing": base["missing_rate"],
            "current_missing": missing,
            "n": n_live,
            "n_baseline": n_profile,
        }
        out.append(
            Measurement(FEATURE_PSI, psi, name, {**hist, "band": stats.psi_band(psi), "kind": base["kind"]})
        )
        if base["kind"] == "categorical":
            base_counts = [f * n_base for f in base["fractions"]]
            cur_counts = [f * present.size for f in fractions]
            t = stats.chi_square_homogeneity(base_counts, cur_counts)
            out.append(
                Measurement(FEATURE_CHI2_P, t.p_value, name, {"statistic": t.statistic, "dof": t.dof})
            )
        else:
            t = stats.ks_from_fractions(base["fractions"], fractions, n_base, int(present.size))
            out.append(
                Measurement(
                    FEATURE_KS, stats.finite_or_none(t.statistic), name,
                    {"p_value": stats.finite_or_none(t.p_value), "on": "frozen bin edges"},
                )
            )
        spec = specs.get(name)
        out.append(Measurement(MISSING_RATE, missing, name, {"baseline": base["missing_rate"], "n": n_live}))
        out.append(Measurement(MISSING_RATE_CHANGE, missing - base["missing_rate"], name, {"n": n_live}))
        if spec is not None and (spec.valid_min is not None or spec.valid_max is not None):
            lo = -np.inf if spec.valid_min is None else spec.valid_min
            hi = np.inf if spec.valid_max is None else spec.valid_max
            bad = int(((present < lo) | (present > hi)).sum())
            rate = bad / present.size if present.size else 0.0
            out.append(
                Measurement(
                    OUT_OF_RANGE_RATE, rate, name,
                    {"count": bad, "n": int(present.size), "valid_min": spec.valid_min, "valid_max": spec.valid_max},
                )
            )
        if base["kind"] == "categorical":
            unseen = _unseen_mask(col, edges, spec)
            count = int(unseen.sum())
            values = sorted({float(v) for v in col[unseen]})
            out.append(
                Measurement(
                    UNSEEN_CATEGORY_RATE, count / present.size if present.size else 0.0, name,
                    {"count": count, "codes": values[:20], "n": int(present.size)},
                )
            )
    return out


def score_checks(profile: Mapping[str, Any], pd: np.ndarray) -> list[Measurement]:
    """PSI of the PD distribution on the profile's frozen PD bins (decisions without a PD —
    the model was unavailable — are counted, not binned)."""
    pd = np.asarray(pd, dtype=np.float64)
    scored = pd[~np.isnan(pd)]
    if scored.size == 0 or "pd" not in profile:
        return []
    base = profile["pd"]
    fractions, _ = stats.bin_fractions(scored, base["edges"])
    value = stats.psi(base["fractions"], fractions)
    details = {
        "edges": base["edges"],
        "baseline": base["fractions"],
        "current": fractions,
        "n": int(scored.size),
        "unscored": int(pd.size - scored.size),
        "band": stats.psi_band(value),
    }
    return [
        Measurement(SCORE_PSI, value, "", details),
        Measurement(SCORE_MEAN, float(scored.mean()), "", {"baseline": base.get("mean"), "n": int(scored.size)}),
    ]


def outcome_rate_checks(
    counts: Mapping[str, int], trailing: Sequence[Mapping[str, int]]
) -> list[Measurement]:
    """Approve/refer/decline rates and their shift from the mean rate of the trailing windows."""
    total = sum(counts.values())
    if total == 0:
        return []
    out: list[Measurement] = []
    usable = [t for t in trailing if sum(t.values())]
    for outcome, rate_name, shift_name in (
        ("approve", APPROVE_RATE, APPROVE_RATE_SHIFT),
        ("refer", REFER_RATE, REFER_RATE_SHIFT),
        ("decline", DECLINE_RATE, DECLINE_RATE_SHIFT),
    ):
        rate = counts.get(outcome, 0) / total
        out.append(Measurement(rate_name, rate, "", {"count": counts.get(outcome, 0), "n": total}))
        if usable:
            base = float(np.mean([t.get(outcome, 0) / sum(t.values()) for t in usable]))
            out.append(
                Measurement(shift_name, rate - base, "", {"trailing_rate": base, "trailing_windows": len(usable), "n": total})
            )
    return out


def volume_checks(count: int, trailing_counts: Sequence[int]) -> list[Measurement]:
    out = [Measurement(VOLUME, float(count), "", {"trailing": list(trailing_counts)})]
    if trailing_counts:
        mean = float(np.mean(trailing_counts))
        if mean > 0:
            out.append(
                Measurement(VOLUME_RATIO, count / mean, "", {"trailing_mean": mean, "n": count,
                                                             "trailing_windows": len(trailing_counts)})
            )
    return out


def latency_checks(latency_ms: np.ndarray, *, slo_p95_ms: float, slo_p99_ms: float) -> list[Measurement]:
    latency_ms = np.asarray(latency_ms, dtype=np.float64)
    if latency_ms.size == 0:
        return []
    p50, p95, p99 = stats.percentiles(latency_ms, (50, 95, 99))
    n = int(latency_ms.size)
    return [
        Measurement(LATENCY_P50, p50, "", {"n": n}),
        Measurement(LATENCY_P95, p95, "", {"n": n, "slo_ms": slo_p95_ms, "breach": p95 > slo_p95_ms}),
        Measurement(LATENCY_P99, p99, "", {"n": n, "slo_ms": slo_p99_ms, "breach": p99 > slo_p99_ms}),
    ]


def performance_checks(pd: np.ndarray, bad: np.ndarray, bands: Sequence[float]) -> list[Measurement]:
    """AUC, Gini, bad rate, calibration on matured approved loans (see OUTCOMES_NOTE)."""
    pd = np.asarray(pd, dtype=np.float64)
    bad = np.asarray(bad, dtype=bool)
    keep = ~np.isnan(pd)
    pd, bad = pd[keep], bad[keep]
    if pd.size == 0:
        return []
    table = stats.band_table(pd, bad.astype(np.float64), bands)
    clean = [{k: stats.finite_or_none(v) for k, v in row.items()} for row in table]
    common = {"n": int(pd.size), "bads": int(bad.sum()), "note": OUTCOMES_NOTE}
    a = stats.auc(bad, pd)
    mean_pd = float(pd.mean())
    bad_rate = float(bad.mean())
    return [
        Measurement(AUC, stats.finite_or_none(a), "", common),
        Measurement(GINI, stats.finite_or_none(2 * a - 1), "", common),
        Measurement(BAD_RATE, bad_rate, "", {**common, "by_pd_band": clean}),
        Measurement(
            CALIBRATION_RATIO, bad_rate / mean_pd if mean_pd > 0 else None, "",
            {**common, "mean_pd": mean_pd, "calibration": clean},
        ),
    ]


def audit_backlog_checks(
    *,
    unsealed: int,
    oldest_age_s: float | None,
    chain_unsealed: int,
    chain_oldest_age_s: float | None,
) -> list[Measurement]:
    """How long a product's oldest decision has waited to be sealed into the audit chain (0 when
    none waits). The sealer runs every second, so a value of more than a few seconds means it
    is not running or cannot keep up: until sealed, those decisions are not yet provable.
    `details` also carry the whole chain's backlog (every event type, every product)."""
    return [
        Measurement(
            AUDIT_UNSEALED_AGE,
            0.0 if oldest_age_s is None else max(0.0, oldest_age_s),
            "",
            {
                "unsealed": unsealed,
                "chain_unsealed": chain_unsealed,
                "chain_oldest_age_s": chain_oldest_age_s,
            },
        )
    ]
