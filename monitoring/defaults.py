"""The alert rules seeded by the data migration, and how a rule reads a value.

Kept as plain data so the same rules drive the data migration, the admin's starting point and
the false-alarm measurement in tests (which evaluates them without a database).

Thresholds and why:
- PSI 0.1 / 0.25 — the industry bands (moderate / significant shift); on bins frozen at training.
- KS D ≥ 0.15 — with n_live ≈ 500 against a holdout of ≈ 800 the 0.1% critical value is ≈ 0.11,
  so 0.15 is a clear shift, not sampling noise; p-values alone flag trivial shifts at high volume.
- chi-square p ≤ 0.001 with at least 200 live rows — categorical mix changes.
- latency P95 ≥ 200 ms, P99 ≥ 500 ms — the SLO the replaced system promised (DESIGN.md).
- missing +5 points, any out-of-range above 1%, unseen categories above 1% — data-quality bugs.
- approval/decline rate moving 10 points from the trailing mean; volume halving or doubling.
- override rate ≥ 20% of reviewed cases; AUC ≤ 0.65; observed/predicted bad rate outside 0.67-1.5.
- a decision waiting 15 s / 2 min to be sealed into the audit chain — the sealer runs every
  second, so that is a sealer behind or stopped (seeded by audit.0008, checked every 30 s).
"""

from __future__ import annotations

import math
from typing import Any

from monitoring import checks as c

GTE, LTE, ABS_GTE = "gte", "lte", "abs_gte"

# (name, metric, operator, threshold, severity, min_count)
DEFAULT_RULES: tuple[tuple[str, str, str, float, str, int], ...] = (
    ("Feature PSI moderate shift", c.FEATURE_PSI, GTE, 0.10, "warning", 100),
    ("Feature PSI significant shift", c.FEATURE_PSI, GTE, 0.25, "critical", 100),
    ("Feature KS shift (numeric)", c.FEATURE_KS, GTE, 0.15, "warning", 100),
    ("Feature chi-square shift (categorical)", c.FEATURE_CHI2_P, LTE, 0.001, "warning", 200),
    ("Score PSI moderate shift", c.SCORE_PSI, GTE, 0.10, "warning", 100),
    ("Score PSI significant shift", c.SCORE_PSI, GTE, 0.25, "critical", 100),
    ("Missing rate up 5 points", c.MISSING_RATE_CHANGE, GTE, 0.05, "warning", 50),
    ("Out-of-range values", c.OUT_OF_RANGE_RATE, GTE, 0.01, "critical", 50),
    ("Unseen categories", c.UNSEEN_CATEGORY_RATE, GTE, 0.01, "warning", 50),
    ("Approval rate shift", c.APPROVE_RATE_SHIFT, ABS_GTE, 0.10, "warning", 100),
    ("Decline rate shift", c.DECLINE_RATE_SHIFT, ABS_GTE, 0.10, "warning", 100),
    ("Refer rate shift", c.REFER_RATE_SHIFT, ABS_GTE, 0.10, "warning", 100),
    ("Volume dropped to half", c.VOLUME_RATIO, LTE, 0.5, "warning", 0),
    ("Volume doubled", c.VOLUME_RATIO, GTE, 2.0, "warning", 0),
    ("Latency P95 above SLO", c.LATENCY_P95, GTE, 200.0, "critical", 20),
    ("Latency P99 above SLO", c.LATENCY_P99, GTE, 500.0, "critical", 100),
    ("Override rate high", c.OVERRIDE_RATE, GTE, 0.20, "warning", 20),
    ("AUC degraded", c.AUC, LTE, 0.65, "warning", 200),
    ("Under-predicting defaults", c.CALIBRATION_RATIO, GTE, 1.5, "warning", 200),
    ("Over-predicting defaults", c.CALIBRATION_RATIO, LTE, 0.67, "warning", 200),
    ("Audit sealing behind (15 s)", c.AUDIT_UNSEALED_AGE, GTE, 15.0, "warning", 0),
    ("Audit sealing stopped (2 min)", c.AUDIT_UNSEALED_AGE, GTE, 120.0, "critical", 0),
)

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def breaches(operator: str, threshold: float, value: float | None) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if operator == GTE:
        return value >= threshold
    if operator == LTE:
        return value <= threshold
    if operator == ABS_GTE:
        return abs(value) >= threshold
    raise ValueError(f"unknown operator {operator!r}")


def sample_size(details: dict[str, Any]) -> int | None:
    n = details.get("n")
    return int(n) if isinstance(n, (int, float)) else None


def firing(measurements: list[c.Measurement]) -> dict[tuple[str, str], str]:
    """(metric, feature) -> highest severity of the default rules it breaches (tests, docs)."""
    out: dict[tuple[str, str], str] = {}
    for m in measurements:
        for _name, metric, op, threshold, severity, min_count in DEFAULT_RULES:
            if metric != m.metric:
                continue
            n = sample_size(m.details)
            if n is not None and n < min_count:
                continue
            if breaches(op, threshold, m.value):
                key = (m.metric, m.feature)
                if SEVERITY_RANK[severity] > SEVERITY_RANK.get(out.get(key, ""), -1):
                    out[key] = severity
    return out
