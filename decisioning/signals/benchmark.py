"""`python -m decisioning.signals.benchmark`: the gateway's own cost per decision, in µs.

Times `fetch_signals` with the configured providers against calling the four simulators
directly (the work any gateway must do), so the difference is the gateway's overhead: registry,
budget bookkeeping, records, SHA-256 of each response, and — when a provider is cached — the
cache round trip. Run it with the simulators (no SIGNAL_PROVIDERS_FILE) to see the overhead on
the decision path; set REDIS_URL to include a real Redis round trip.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from decimal import Decimal


def _time(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from django.conf import settings
    from django.test import override_settings

    from decisioning.engine.types import (
        ApplicationData,
        EmploymentStatus,
        LoanPurpose,
        ResidentialStatus,
    )
    from decisioning.signals import registry as registry_module
    from decisioning.signals.gateway import SIMULATORS, fetch_signals

    app = ApplicationData(
        first_name="Grace",
        last_name="Patel",
        date_of_birth=dt.date(1985, 4, 12),
        postcode="LS1 4AP",
        uk_resident=True,
        residential_status=ResidentialStatus.MORTGAGE,
        months_at_address=96,
        employment_status=EmploymentStatus.EMPLOYED,
        months_in_employment=72,
        annual_income=Decimal("52000"),
        monthly_expenditure=Decimal("900"),
        existing_debt=Decimal("1000"),
        monthly_debt_payments=Decimal("50"),
        dependants=0,
        requested_amount=Decimal("5000"),
        term_months=36,
        purpose=LoanPurpose.CAR,
    )
    now = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000

    def report(label: str, samples: list[float]) -> None:
        samples.sort()
        p95 = samples[int(len(samples) * 0.95)]
        print(f"{label:58} median {statistics.median(samples):7.1f} µs   p95 {p95:7.1f} µs")

    def simulators_only() -> None:
        for _, simulate in SIMULATORS.values():
            simulate(app)

    cached = {
        "providers": {
            name: {
                "kind": "simulated",
                "cache_ttl_seconds": 3600,
                **(
                    {"rate_limit": {"max_pulls": 3, "window_seconds": 86400}}
                    if name == "bureau"
                    else {}
                ),
            }
            for name in SIMULATORS
        }
    }
    print(
        f"{n} runs each; cache backend: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    _time(simulators_only, 200)
    base = _time(simulators_only, n)
    report("four simulators called directly", base)
    with override_settings(SIGNAL_PROVIDERS={}):
        registry_module.reset()
        _time(lambda: fetch_signals(app, now=now), 200)
        gw = _time(lambda: fetch_signals(app, now=now), n)
        report("fetch_signals, default (simulators, uncached)", gw)
        print(
            f"{'  → gateway overhead':58} median {statistics.median(gw) - statistics.median(base):7.1f} µs"
        )
    with override_settings(SIGNAL_PROVIDERS=cached):
        registry_module.reset()
        fetch_signals(app, now=now)
        hit = _time(lambda: fetch_signals(app, now=now), n)
        report("fetch_signals, simulators cached (all four cache hits)", hit)
    registry_module.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
