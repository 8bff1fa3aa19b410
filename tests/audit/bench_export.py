"""Benchmark: memory and speed of a decision export as the number of decisions grows.

Not a test. Run against a throwaway PostgreSQL database (DROPPED and recreated):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/verdict_export_bench \\
        .venv/bin/python tests/audit/bench_export.py --sizes 10000 100000 300000

Rows are copies of one realistic decision (10 rule results, 20 features, 4 signal records,
explanation) inserted in bulk through the base manager (the default manager refuses bulk
writes). Each size is exported with `export_to_directory` under tracemalloc; the peak of
Python allocations is reported with the file sizes and rows per second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a throwaway PostgreSQL database")
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from audit.exports import ExportFilter, export_to_directory
    from audit.services import Actor
    from decisioning.models import Application, Decision, IntegrationClient, Product

    client = IntegrationClient.objects.create(name="bench")
    product = Product.objects.create(code="bench-loan", name="Bench")
    rule_results = [
        {
            "rule_id": f"rule_{k}",
            "rule_version": "1",
            "name": f"Rule {k}",
            "fired": False,
            "action": "decline",
            "reason_code": "X",
            "inputs": {"bureau.score": 600},
            "error": "",
            "parameter": None,
        }
        for k in range(10)
    ]
    features = {"version": "fc-1", "values": {f"feature_{k}": 0.1234567 * k for k in range(20)}}
    signals = [
        {
            "provider": f"sim-{t}",
            "provider_version": "sim-1",
            "signal_type": t,
            "ok": True,
            "response": {"score": 617, "a": 1, "b": False},
            "response_sha256": "e" * 64,
            "latency_ms": 0.1,
            "fetched_at": "2026-12-04T16:44:17+00:00",
            "cache_hit": False,
            "error": "",
        }
        for t in ("bureau", "kyc", "sanctions", "fraud")
    ]
    explanation = {
        "contributions": [[f"feature_{k}", -0.01 * k] for k in range(20)],
        "model_reasons": [],
    }
    made = 0
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for size in sorted(args.sizes):
        while made < size:
            batch = min(5000, size - made)
            apps, decisions = [], []
            for i in range(made, made + batch):
                when = start + dt.timedelta(seconds=i)
                app = Application(
                    id=uuid.uuid4(),
                    client=client,
                    product=product,
                    reference=f"B{i}",
                    first_name="Bench",
                    last_name="Mark",
                    date_of_birth=dt.date(1980, 1, 1),
                    postcode="LS1 4AP",
                    uk_resident=True,
                    residential_status="rent",
                    months_at_address=12,
                    employment_status="employed",
                    months_in_employment=12,
                    annual_income=Decimal("40000"),
                    monthly_expenditure=Decimal("800"),
                    existing_debt=Decimal("0"),
                    monthly_debt_payments=Decimal("0"),
                    dependants=0,
                    requested_amount=Decimal("5000"),
                    term_months=36,
                    purpose="car",
                    identity_hash="a" * 64,
                    submitted_at=when,
                )
                apps.append(app)
                decisions.append(
                    Decision(
                        application=app,
                        client=client,
                        product=product,
                        outcome="approve",
                        pd=0.05 + i * 1e-9,
                        pd_lower=0.03,
                        pd_upper=0.07,
                        approved_amount=Decimal("5000"),
                        reasons=[],
                        rule_results=rule_results,
                        features=features,
                        signals=signals,
                        explanation=explanation,
                        ruleset_version="builtin-1",
                        feature_version="fc-1",
                        model_name="verdict-bench-loan",
                        model_version="1",
                        model_hash="f" * 64,
                        latency_ms=1.0,
                        request_id=uuid.uuid4().hex,
                        request_hash="0" * 64,
                        created_at=when,
                    )
                )
            Application._base_manager.bulk_create(apps)
            Decision._base_manager.bulk_create(decisions)
            made += batch
        with tempfile.TemporaryDirectory() as tmp:
            tracemalloc.start()
            t0 = time.perf_counter()
            manifest = export_to_directory(
                f=ExportFilter(), directory=Path(tmp), actor=Actor.system("bench")
            )
            elapsed = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            files = manifest["files"]
            print(
                f"decisions={size:>8,} exported={files['decisions.jsonl']['records']:>8,} "
                f"time={elapsed:6.1f}s rate={size / elapsed:6.0f}/s peak_python_alloc={peak / 2**20:6.1f} MiB "
                f"jsonl={files['decisions.jsonl']['bytes'] / 2**20:7.1f} MiB csv={files['decisions.csv']['bytes'] / 2**20:6.1f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
