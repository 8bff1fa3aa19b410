"""Benchmark: how many decision-like transactions per second the audit chain sustains.

Not a test (pytest does not collect it). Run against a throwaway PostgreSQL database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/verdict_audit_bench \\
        .venv/bin/python tests/audit/bench_chain.py --workers 8 --per-worker 500

The database named in DATABASE_URL is DROPPED and recreated. Each worker is a separate process
(its own connection, no shared GIL) running the persistence transaction of `decision_create`:
insert an Application, insert a Decision, append `decision.created` to the chain, commit. The
pipeline's CPU work is left out on purpose: this measures the serialised part (the chain head
lock, held from the append to the commit). Afterwards the chain is verified end to end and
checked for forks (two events with the same predecessor).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def _setup(seal_mode: str = "scheduled") -> None:
    import django
    from django.conf import settings

    django.setup()
    settings.AUDIT_SEAL_MODE = seal_mode


def _sealer(args: tuple[float, mp.Event]) -> tuple[int, int, float]:
    """The scheduled sealer (what Celery beat runs every second in production)."""
    every, stop = args
    _setup()
    from django.db import connection

    from audit.services import chain_seal

    sealed = rounds = 0
    worst = 0.0
    while True:
        t0 = time.perf_counter()
        sealed += chain_seal(wait=False)
        worst = max(worst, time.perf_counter() - t0)
        rounds += 1
        if stop.wait(every):
            t0 = time.perf_counter()
            sealed += chain_seal()
            worst = max(worst, time.perf_counter() - t0)
            break
    connection.close()
    return sealed, rounds, worst


def _recreate_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _worker(args: tuple[int, int, int, int, mp.Barrier, str]) -> list[float]:
    worker, n, client_id, product_id, barrier, mode = args
    _setup("on_commit" if mode == "on_commit" else "scheduled")
    from django.db import connection, transaction
    from django.utils import timezone

    from audit.services import Actor, audit_record, chain_seal
    from decisioning.models import Application, Decision, IntegrationClient, Product

    client = IntegrationClient.objects.get(pk=client_id)
    product = Product.objects.get(pk=product_id)
    actor = Actor.for_client(client)
    latencies: list[float] = []
    barrier.wait()
    for i in range(n):
        started = time.perf_counter()
        now = timezone.now()
        with transaction.atomic():
            app = Application.objects.create(
                client=client,
                product=product,
                reference=f"B{worker}-{i}",
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
                identity_hash=uuid.uuid4().hex * 2,
                submitted_at=now,
            )
            decision = Decision.objects.create(
                application=app,
                client=client,
                product=product,
                outcome="approve",
                pd=0.05,
                pd_lower=0.03,
                pd_upper=0.07,
                approved_amount=Decimal("5000"),
                reasons=[],
                rule_results=[{"rule_id": f"r{k}", "fired": False} for k in range(10)],
                features={"version": "fc-1", "values": {f"f{k}": k * 0.5 for k in range(20)}},
                signals=[],
                explanation={},
                ruleset_version="builtin-1",
                feature_version="fc-1",
                latency_ms=1.0,
                request_id=uuid.uuid4().hex,
                request_hash="0" * 64,
                created_at=now,
            )
            if mode == "none":
                latencies.append((time.perf_counter() - started) * 1000)
                continue
            audit_record(
                actor=actor,
                event_type="decision.created",
                subject_type="decision",
                subject_id=str(decision.pk),
                payload={"outcome": "approve", "pd": 0.05, "product": product.code},
                correlation_id=decision.request_id,
                occurred_at=now,
            )
            if (
                mode == "inline"
            ):  # the previous design: chain inside the transaction, head locked till commit
                chain_seal(wait=True)
        latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--per-worker", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="do not recreate the database")
    parser.add_argument(
        "--mode",
        choices=("chain", "inline", "on_commit", "none"),
        default="chain",
        help="chain: events sealed by a separate sealer every --seal-every s; "
        "inline: sealed inside the writer's transaction (head locked till commit, the design before); "
        "on_commit: each writer seals after its commit; none: no audit event (baseline)",
    )
    parser.add_argument("--seal-every", type=float, default=1.0)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a throwaway PostgreSQL database")
    if not args.keep:
        _recreate_database(url)
    _setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from decisioning.models import IntegrationClient, Product

    client, _ = IntegrationClient.objects.get_or_create(name="bench")
    product, _ = Product.objects.get_or_create(code="bench-loan", defaults={"name": "Bench"})
    connection.close()

    ctx = mp.get_context("fork")
    manager = ctx.Manager()
    barrier, stop = manager.Barrier(args.workers + 1), manager.Event()
    with ctx.Pool(args.workers + 1) as pool:
        sealer = (
            pool.apply_async(_sealer, [(args.seal_every, stop)]) if args.mode == "chain" else None
        )
        result = pool.map_async(
            _worker,
            [
                (w, args.per_worker, client.pk, product.pk, barrier, args.mode)
                for w in range(args.workers)
            ],
        )
        barrier.wait()
        started = time.perf_counter()
        per_worker = result.get()
        elapsed = time.perf_counter() - started
        stop.set()
        t0 = time.perf_counter()
        seal_stats = sealer.get() if sealer else None
        drain = time.perf_counter() - t0

    from django.db.models import Count

    from audit.models import AuditEvent
    from audit.selectors import chain_verify

    total = args.workers * args.per_worker
    latencies = sorted(x for w in per_worker for x in w)
    t0 = time.perf_counter()
    check = chain_verify()
    verify_s = time.perf_counter() - t0
    forks = AuditEvent.objects.values("prev_hash").annotate(n=Count("seq")).filter(n__gt=1).count()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        sync = cursor.fetchone()[0]
    print(
        f"mode={args.mode} workers={args.workers} transactions={total} elapsed={elapsed:.2f}s "
        f"throughput={total / elapsed:.0f}/s synchronous_commit={sync}"
    )
    print(
        f"latency ms: p50={statistics.median(latencies):.2f} "
        f"p95={latencies[int(0.95 * len(latencies))]:.2f} p99={latencies[int(0.99 * len(latencies))]:.2f}"
    )
    if seal_stats:
        print(
            f"sealer: sealed={seal_stats[0]} rounds={seal_stats[1]} slowest round={seal_stats[2] * 1000:.0f} ms "
            f"final drain={drain:.2f}s"
        )
    print(
        f"chain: unsealed={check.unsealed} ok={check.ok} events={check.checked} forks={forks} verify={verify_s:.2f}s "
        f"({check.checked / verify_s:.0f} events/s)"
    )


if __name__ == "__main__":
    main()
