"""Batch rescoring benchmark (issue 10): generated applications decided and stored end to end
by W worker processes claiming chunks exactly as the Celery task does, with stage timings.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/verdict_batch_bench \\
        .venv/bin/python bench/bench_batch.py --count 1000000 --workers 2
    .venv/bin/python bench/bench_batch.py --count 100000                       # SQLite (var/)
    ... --storage bulk          # bulk_create instead of COPY (PostgreSQL)
    ... --kill-at 0.4           # SIGKILL one worker at 40 %, replace it, check exactly-once
    ... --latency               # live decisions (decision_create) P50/P95/P99 before and during

Stages (CPU seconds summed over workers): load = generating the applications (the input; a
stored selection reads rows here instead), features = build_matrix, scoring = one score_matrix
per chunk, rules = `resolve` per row, storage = COPY/bulk insert + finishing the chunk.
Writes bench/out/batch-<vendor>-<count>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("MODEL_REFRESH_SECONDS", "0")
if not os.environ.get("DATABASE_URL"):
    os.environ["VERDICT_VAR_DIR"] = str(ROOT / "var" / "bench-batch")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402

from audit.services import Actor  # noqa: E402
from decisioning.batches import services  # noqa: E402
from decisioning.batches.engine import Timings  # noqa: E402
from decisioning.models import Batch, BatchResult, IntegrationClient, Product  # noqa: E402

PRODUCT = "personal-loan"


def train_scorer() -> object:
    from modeling.features import FEATURE_NAMES, FEATURE_VERSION, reason_map
    from modeling.scoring import XGBoostScorer, booster_sha256
    from modeling.synthetic import generate, training_data
    from modeling.training import train

    end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cases = generate(20000, seed=7, start=end - dt.timedelta(days=365), end=end)
    X, y, _ = training_data(cases)
    r = train(X, y, feature_names=list(FEATURE_NAMES), seed=7, num_boost_round=200, n_bootstrap=4)
    return XGBoostScorer(r.booster, model_name=f"verdict-{PRODUCT}", model_version="bench",
                         model_hash=booster_sha256(r.booster), feature_names=r.feature_names,
                         interval=r.interval, reason_map=reason_map(), feature_version=FEATURE_VERSION)


def worker(batch_id: int, method: str | None, lease: int, nice: int, out: mp.Queue) -> None:
    os.nice(nice)
    # The parent closed its connections before forking (closing an inherited one here would
    # terminate the parent's session on the shared socket).
    t = Timings()
    n = services.batch_work(batch_id=batch_id, method=method, lease=lease, timings=t)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put({"pid": os.getpid(), "chunks": n, "timings": t.as_dict(), "max_rss_mb": usage.ru_maxrss / 1024})


def start_workers(k: int, args: argparse.Namespace, batch_id: int, q: mp.Queue) -> list[mp.Process]:
    connections.close_all()  # children must open their own; the parent reconnects on next use
    ps = [mp.Process(target=worker, args=(batch_id, args.storage, args.lease, args.nice, q)) for _ in range(k)]
    for p in ps:
        p.start()
    return ps


def live_latencies(seconds: float, rate: float) -> list[float]:
    """decision_create (the API's service: signals, policy, model with explanation, persist) at
    `rate`/s; milliseconds each."""
    from decisioning.payloads import request_body
    from decisioning.services import decision_create
    from modeling.synthetic import generate

    product = Product.objects.get(code=PRODUCT)
    client, _ = IntegrationClient.objects.get_or_create(name="bench-live")
    end = dt.datetime.now(dt.UTC)
    cases = generate(int(seconds * rate) + 1, seed=int(time.time()), start=end - dt.timedelta(days=1), end=end)
    out = []
    next_at = time.perf_counter()
    for c in cases:
        now = time.perf_counter()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += 1.0 / rate
        app = c.app
        if not (product.min_amount <= app.requested_amount <= product.max_amount):
            continue
        t0 = time.perf_counter()
        decision_create(client=client, product=product, application=app,
                        request_body=request_body(app, product=PRODUCT), request_id="bench")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--chunk-size", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--storage", choices=["copy", "bulk"], default=None)
    ap.add_argument("--lease", type=int, default=10, help="chunk lease, seconds")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--kill-at", type=float, default=None, help="SIGKILL one worker at this progress")
    ap.add_argument("--latency", action="store_true", help="measure live decisions before/during")
    ap.add_argument("--latency-rate", type=float, default=20.0)
    args = ap.parse_args()

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from modeling.serving import set_scorer

    t0 = time.perf_counter()
    scorer = train_scorer()
    set_scorer(PRODUCT, scorer)
    print(f"trained the benchmark model in {time.perf_counter() - t0:.1f} s; database: {connection.vendor}")
    product, _ = Product.objects.get_or_create(code=PRODUCT, defaults={"name": "Personal loan"})

    baseline: list[float] = []
    if args.latency:
        live_latencies(2, args.latency_rate)  # warm-up
        baseline = live_latencies(10, args.latency_rate)

    batch = services.batch_create(product=product, source="generated", actor=Actor.system("bench"),
                                  generate_count=args.count, chunk_size=args.chunk_size, dispatch=False)
    services.batch_plan(batch_id=batch.pk)
    connections.close_all()
    ctx_q: mp.Queue = mp.Queue()
    started = time.perf_counter()
    procs = start_workers(args.workers, args, batch.pk, ctx_q)
    killed = None
    during: list[float] = []
    last_print = 0.0
    while any(p.is_alive() for p in procs):
        b = Batch.objects.only("done", "total", "status").get(pk=batch.pk)
        frac = b.done / b.total if b.total else 1.0
        if args.kill_at is not None and killed is None and frac >= args.kill_at:
            victim = next(p for p in procs if p.is_alive())
            os.kill(victim.pid, signal.SIGKILL)
            killed = {"pid": victim.pid, "at_done": b.done, "at_s": round(time.perf_counter() - started, 2)}
            print(f"\nkilled worker {victim.pid} at {b.done:,} done; starting a replacement")
            procs += start_workers(1, args, batch.pk, ctx_q)
        if args.latency and not during and frac > 0.05:
            during = live_latencies(10, args.latency_rate)
        now = time.perf_counter()
        if now - last_print > 1.0:
            rate = b.done / (now - started) if now > started else 0
            print(f"\r{b.done:>10,} / {b.total:,}  {100 * frac:5.1f}%  {rate:,.0f}/s", end="", flush=True)
            last_print = now
        time.sleep(0.2)
    # A killed worker's chunk is reclaimed after its lease by whoever is still working; if every
    # worker finished first, one more pass picks it up (what the Celery watchdog does).
    while Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).exists():
        time.sleep(1)
        procs = start_workers(1, args, batch.pk, ctx_q)
        for p in procs:
            p.join()
    wall = time.perf_counter() - started
    reports = []
    while not ctx_q.empty():
        reports.append(ctx_q.get())
    batch.refresh_from_db()
    stored = BatchResult.objects.filter(batch=batch).count()
    distinct = BatchResult.objects.filter(batch=batch).values("item").distinct().count()

    stages = Timings()
    for r in reports:
        stages.add(Timings(**r["timings"]))
    st = stages.as_dict()
    cpu = sum(st.values())
    result = {
        "database": connection.vendor,
        "count": args.count,
        "workers": args.workers,
        "chunk_size": args.chunk_size,
        "storage": args.storage or ("copy" if connection.vendor == "postgresql" else "bulk"),
        "status": batch.status,
        "stored_rows": stored,
        "distinct_items": distinct,
        "wall_seconds": round(wall, 2),
        "end_to_end_per_s": round(args.count / wall),
        "batch_row_throughput": round(batch.throughput or 0),
        "stage_cpu_seconds": st,
        "stage_per_s_one_core": {k: (round(args.count / v) if v else None) for k, v in st.items()},
        "scored_and_stored_per_s_excluding_generation": round(args.count / ((cpu - st["load"]) / args.workers)) if cpu else None,
        "max_worker_rss_mb": max((r["max_rss_mb"] for r in reports), default=None),
        "killed": killed,
        "summary_outcomes": batch.summary.get("outcomes"),
    }
    if args.latency:
        result["live_latency_ms"] = {
            "baseline": {"n": len(baseline), "p50": pct(baseline, 50), "p95": pct(baseline, 95), "p99": pct(baseline, 99)},
            "during_batch": {"n": len(during), "p50": pct(during, 50), "p95": pct(during, 95), "p99": pct(during, 99)},
        }
    print()
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / f"batch-{connection.vendor}-{args.count}{'-kill' if killed else ''}{'-' + args.storage if args.storage else ''}.json").write_text(json.dumps(result, indent=2))
    assert stored == distinct == args.count, "duplicates or missing results"


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
