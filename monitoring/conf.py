"""Monitoring settings with their defaults (the environment sets them in config/settings.py)."""

from __future__ import annotations

from django.conf import settings

DEFAULT_PD_BANDS = (0.0, 0.02, 0.05, 0.10, 0.20, 1.0)


def get(name: str, default):  # type: ignore[no-untyped-def]
    return getattr(settings, name, default)


def slo_p95_ms() -> float:
    return float(get("MONITORING_LATENCY_SLO_P95_MS", 200))


def slo_p99_ms() -> float:
    return float(get("MONITORING_LATENCY_SLO_P99_MS", 500))


def trailing_windows() -> int:
    return int(get("MONITORING_TRAILING_WINDOWS", 7))


def max_rows() -> int:
    return int(get("MONITORING_MAX_ROWS", 50_000))


def maturity_days() -> int:
    return int(get("MONITORING_OUTCOME_MATURITY_DAYS", 365))


def cohort_days() -> int:
    return int(get("MONITORING_OUTCOME_COHORT_DAYS", 90))


def pd_bands() -> tuple[float, ...]:
    return tuple(get("MONITORING_PD_BANDS", DEFAULT_PD_BANDS))


def metrics_token() -> str:
    return str(get("METRICS_TOKEN", "") or "")
