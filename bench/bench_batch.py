"""Batch rescoring benchmark (issue 10): generated applications decided and stored end to end, with
rows/s per stage, peak memory, where the CPU went, and the machine's load average.

    .venv/bin/python bench/bench_batch.py --count 200000              # 2 in-process workers
    .venv/bin/python bench/bench_batch.py --count 1000000 --celery --kill-at 0.4
    .venv/bin/python bench/bench_batch.py --count 100000 --reference  # per-row resolve, for comparison

Database: DATABASE_URL, default postgres://postgres@127.0.0.1:5432/verdict_batch (created if
missing; migrated; seeded with the demo's products, published rule set and champion on first use,
models under bench/out/var-batch). Results: bench/out/batch-<mode>-<count>.json.

Two ways to run the workers, the same chunk code either way:
- in-process (default): `--workers` forked processes call `services.batch_work`, claiming chunks
  exactly as the Celery task does (conditional UPDATE, lease, token); their stage timings, CPU
  and peak RSS come back to this process, and so does the CPU of their PostgreSQL backends;
- `--celery`: `--workers` real `celery -A config worker -Q batches -c 1` processes on Redis
  (`--redis`, default db 13); `manage.py run_batch --celery` starts the batch and shows its
  progress bar; with `--kill-at F` one worker (its whole process group) is SIGKILLed when F of the
  batch is done and a replacement is started; the run fails unless every item is stored once.

Stages (seconds summed over workers, wall time inside each worker): load = generating the
applications (`modeling.synthetic.generate` + the simulated providers: the input, not Verdict's
work), features = columns + feature matrix, scoring = one `score_matrix` + intervals, rules =
rule flags + outcome/reasons, storage = statistics + COPY + the chunk's commit. "per worker-second"
is rows / stage seconds: the rate one busy core sustains for that stage alone.

The machine's load average is recorded before and after: numbers measured while other work runs
on the same cores are lower than an idle machine gives.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/verdict_batch"
os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
os.environ.setdefault("VERDICT_VAR_DIR", str(OUT / "var-batch"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("MODEL_REFRESH_SECONDS", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.pop("REDIS_URL", None)  # this process is never a Celery client; --celery sets it for its children

PRODUCT = "personal-loan"
TICK = os.sysconf("SC_CLK_TCK")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def children(pid: int) -> list[int]:
    try:
        out = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return out + [c for p in out for c in children(p)]


def git_commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return r.stdout.strip()


def setup() -> None:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from modeling.serving import get_scorer

    scorer, _ = get_scorer(PRODUCT)
    if scorer is None:
        print("seeding the demo (products, published rule set, champion trained on 20k rows)…", flush=True)
        call_command("seed_demo", "--applications", "0", "--train-rows", "20000", verbosity=0)


# ---- inputs for stored and uploaded batches --------------------------------------------------------

BENCH_CLIENT = "bench-batch"
REAL_DECISIONS = 1000


def ensure_stored(count: int) -> None:
    """At least `count` stored decisions of the product: REAL_DECISIONS decided through the live
    service (`decision_create`: the pipeline, its signals, explanation, audit), then cloned in SQL
    (new ids, same columns, `created_at` spread over the past days) up to `count`. Clones decide the
    same way as their originals, which is all a throughput benchmark needs."""
    import datetime as dt

    from django.db import connection, transaction

    from decisioning import services as decisions
    from decisioning.models import Application, Decision, IntegrationClient, Product
    from modeling.synthetic import generate, to_payload

    product = Product.objects.get(code=PRODUCT)
    have = Decision.objects.filter(product=product).count()
    if have >= count:
        return
    client, _ = IntegrationClient.objects.get_or_create(name=BENCH_CLIENT)
    if have < REAL_DECISIONS:
        print(f"deciding {REAL_DECISIONS - have} applications through the live service…", flush=True)
        end = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        for i, case in enumerate(generate(REAL_DECISIONS - have, seed=99, start=end - dt.timedelta(days=30), end=end)):
            body = to_payload(case.app)
            try:
                decisions.decision_create(client=client, product=product, application=case.app,
                                          reference=f"BENCH-{have + i}", request_body=body)
            except Exception as e:  # outside the product's limits: skipped, not stored
                print(f"  skipped one: {type(e).__name__}: {e}"[:200])
        have = Decision.objects.filter(product=product).count()
    missing = count - have
    print(f"cloning stored decisions in SQL: +{missing:,}…", flush=True)
    app_cols = [f.column for f in Application._meta.concrete_fields if f.column != "id"]
    dec_cols = [f.column for f in Decision._meta.concrete_fields if f.column not in ("id", "application_id", "created_at", "idempotency_key")]
    a_t, d_t = Application._meta.db_table, Decision._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE bench_clone ON COMMIT DROP AS "
            f"SELECT d.id AS old_d, d.application_id AS old_a, gen_random_uuid() AS new_a, gen_random_uuid() AS new_d, g "
            f"FROM (SELECT id, application_id FROM {d_t} WHERE product_id = %s ORDER BY created_at LIMIT {REAL_DECISIONS}) d "
            f"CROSS JOIN generate_series(1, %s) g LIMIT %s",
            [product.pk, missing // min(have, REAL_DECISIONS) + 1, missing],
        )
        cur.execute(
            f"INSERT INTO {a_t} (id, {', '.join(app_cols)}) SELECT c.new_a, {', '.join('a.' + c for c in app_cols)} "
            f"FROM bench_clone c JOIN {a_t} a ON a.id = c.old_a"
        )
        cur.execute(
            f"INSERT INTO {d_t} (id, application_id, created_at, idempotency_key, {', '.join(dec_cols)}) "
            f"SELECT c.new_d, c.new_a, d.created_at - (c.g % 20) * interval '1 hour', NULL, {', '.join('d.' + c for c in dec_cols)} "
            f"FROM bench_clone c JOIN {d_t} d ON d.id = c.old_d"
        )
    cur = connection.cursor()
    cur.execute("ANALYZE " + d_t)
    cur.execute("ANALYZE " + a_t)


def write_csv(count: int) -> Path:
    """`count` generated applications as an upload CSV (the API's field names)."""
    import csv
    import datetime as dt

    from decisioning.batches.sources import CSV_COLUMNS
    from modeling.synthetic import generate, to_payload

    path = OUT / f"bench-upload-{count}.csv"
    if path.exists():
        return path
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for start in range(0, count, 10_000):
            for i, case in enumerate(generate(min(10_000, count - start), seed=7 + start, start=end - dt.timedelta(days=30), end=end)):
                p = to_payload(case.app)
                p.update(reference=f"CSV-{start + i}", amount=p.pop("requested_amount"),
                         bankrupt_or_iva="true" if p["bankrupt_or_iva"] else "false",
                         uk_resident="true" if p["uk_resident"] else "false")
                w.writerow([p[c] for c in CSV_COLUMNS])
    tmp.rename(path)
    return path


def create_batch(args: argparse.Namespace) -> object:
    from audit.services import Actor
    from decisioning.batches import services
    from decisioning.models import Product

    product = Product.objects.get(code=PRODUCT)
    common = {"product": product, "actor": Actor.system("bench"), "chunk_size": args.chunk_size, "dispatch": False}
    if args.source == "stored":
        ensure_stored(args.count)
        from django.utils import timezone

        from decisioning.models import Decision

        # Exactly `count` decisions: the window ends at the count-th newest one.
        newest = Decision.objects.filter(product=product).order_by("-created_at").values_list("created_at", flat=True)
        date_from = newest[args.count - 1]
        return services.batch_create(source="stored", date_from=date_from, date_to=timezone.now(), **common)
    if args.source == "upload":
        path = write_csv(args.count)
        with open(path, "rb") as f:
            return services.batch_create(source="upload", upload=f, **common)
    return services.batch_create(source="generated", generate_count=args.count, **common)


# ---- in-process workers --------------------------------------------------------------------------


def worker(batch_id: int, method: str | None, lease: int, nice: int, reference: bool, out: mp.Queue) -> None:
    from django.db import connection

    from decisioning.batches import engine, services
    from decisioning.batches.engine import Timings

    if nice > 0:
        services.lower_priority(nice)
    if reference:  # the per-row path, for comparison
        original = engine.decide_chunk
        engine.decide_chunk = lambda *a, **kw: original(*a, **{**kw, "vectorised": False})  # type: ignore[assignment]
        services.decide_chunk = engine.decide_chunk  # type: ignore[attr-defined]
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid if connection.vendor == "postgresql" else 0
    db0 = proc_cpu(backend)
    t = Timings()
    cpu0 = time.process_time()
    n = services.batch_work(batch_id=batch_id, method=method, lease=lease, timings=t)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put({
        "pid": os.getpid(), "chunks": n, "timings": t.as_dict(), "cpu_s": time.process_time() - cpu0,
        "db_backend_cpu_s": proc_cpu(backend) - db0, "max_rss_mb": usage.ru_maxrss / 1024,
    })


def start_workers(k: int, args: argparse.Namespace, batch_id: int, q: mp.Queue) -> list[mp.Process]:
    from django.db import connections

    connections.close_all()  # children open their own; the parent reconnects on next use
    ps = [mp.Process(target=worker, args=(batch_id, args.storage, args.lease, args.nice, args.reference, q))
          for _ in range(k)]
    for p in ps:
        p.start()
    return ps


def run_in_process(args: argparse.Namespace) -> dict:
    from decisioning.batches import services
    from decisioning.batches.engine import Timings
    from decisioning.models import Batch

    batch = create_batch(args)
    planned = time.perf_counter()
    services.batch_plan(batch_id=batch.pk)
    plan_s = time.perf_counter() - planned
    q: mp.Queue = mp.Queue()
    busy0 = machine_busy()
    started = time.perf_counter()
    procs = start_workers(args.workers, args, batch.pk, q)
    killed = None
    last = 0.0
    while any(p.is_alive() for p in procs):
        b = Batch.objects.only("done", "total").get(pk=batch.pk)
        frac = b.done / b.total if b.total else 1.0
        if args.kill_at is not None and killed is None and frac >= args.kill_at:
            victim = next(p for p in procs if p.is_alive())
            os.kill(victim.pid, signal.SIGKILL)
            killed = {"pid": victim.pid, "at_done": b.done, "at_s": round(time.perf_counter() - started, 2)}
            print(f"\nkilled worker {victim.pid} at {b.done:,} done; starting a replacement", flush=True)
            procs += start_workers(1, args, batch.pk, q)
        now = time.perf_counter()
        if now - last > 1.0:
            print(f"\r{b.done:>10,} / {b.total:,}  {100 * frac:5.1f}%  {b.done / (now - started):,.0f}/s",
                  end="", flush=True)
            last = now
        time.sleep(0.2)
    # A killed worker's chunk is reclaimed after its lease by whoever still works; if every worker
    # finished first, one more worker picks it up (what the Celery watchdog does).
    while Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).exists():
        time.sleep(1)
        for p in start_workers(1, args, batch.pk, q):
            p.join()
    wall = time.perf_counter() - started
    busy1 = machine_busy()
    print()
    reports = []
    while not q.empty():
        reports.append(q.get())
    stages = Timings()
    for r in reports:
        stages.add(Timings.from_dict(r["timings"]))
    return {
        "batch_id": batch.pk,
        "plan_s": plan_s,
        "wall_s": wall,
        "stages": stages.as_dict(),
        "workers_cpu_s": sum(r["cpu_s"] for r in reports),
        "db_backends_cpu_s": sum(r["db_backend_cpu_s"] for r in reports),
        "machine_busy_cpu_s": (busy1[0] - busy0[0]) / TICK,
        "max_worker_rss_mb": max((r["max_rss_mb"] for r in reports), default=None),
        "killed": killed,
    }


# ---- real Celery workers -------------------------------------------------------------------------


def celery_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(REDIS_URL=args.redis, BATCH_LEASE_SECONDS=str(args.lease), BATCH_NICE=str(args.nice),
               PYTHONUNBUFFERED="1")
    return env


def start_celery(args: argparse.Namespace, name: str) -> subprocess.Popen:
    log = open(OUT / f"celery-{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "batches", "-c", "1",
         "--prefetch-multiplier", "1", "-n", f"{name}@%h", "--loglevel", "WARNING"],
        cwd=ROOT, env=celery_env(args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def run_celery(args: argparse.Namespace) -> dict:
    from decisioning.models import Batch

    subprocess.run(["redis-cli", "-u", args.redis, "DEL", "batches", "unacked", "unacked_index"],
                   check=False, capture_output=True)
    workers = {f"batch{i}": start_celery(args, f"batch{i}") for i in range(args.workers)}
    time.sleep(8)  # importing Django, xgboost and the model takes a few seconds
    before = set(Batch.objects.values_list("pk", flat=True))
    busy0 = machine_busy()
    started = time.perf_counter()
    cmd = [sys.executable, "manage.py", "run_batch", "--generated", str(args.count), "--celery",
           "--chunk-size", str(args.chunk_size)]
    print("$ REDIS_URL=" + args.redis + " " + " ".join(cmd[1:]), flush=True)
    follower = subprocess.Popen(cmd, cwd=ROOT, env=celery_env(args))  # its tqdm bar goes to our stderr
    killed = None
    cpu: dict[int, float] = {}
    hwm: dict[int, float] = {}
    batch_id = None
    while follower.poll() is None:
        time.sleep(0.5)
        for p in workers.values():
            for pid in [p.pid, *children(p.pid)]:
                cpu[pid] = max(cpu.get(pid, 0.0), proc_cpu(pid))
                hwm[pid] = max(hwm.get(pid, 0.0), proc_hwm_mb(pid) or 0.0)
        if batch_id is None:
            batch_id = Batch.objects.exclude(pk__in=before).values_list("pk", flat=True).first()
            continue
        b = Batch.objects.only("done", "total").get(pk=batch_id)
        if args.kill_at is not None and killed is None and b.total and b.done / b.total >= args.kill_at:
            name, victim = next(iter(workers.items()))
            pids = [victim.pid, *children(victim.pid)]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            killed = {"worker": name, "pids": pids, "at_done": b.done, "at_s": round(time.perf_counter() - started, 2)}
            print(f"\nkill -9 celery worker {name} (pids {pids}) at {b.done:,} done; restarting it", flush=True)
            workers[name + "-restarted"] = start_celery(args, name + "-restarted")
            del workers[name]
    wall = time.perf_counter() - started
    busy1 = machine_busy()
    for p in workers.values():
        os.killpg(p.pid, signal.SIGTERM)
    for p in workers.values():
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    if follower.returncode != 0:
        sys.exit(f"run_batch failed with {follower.returncode}")
    from decisioning.batches.engine import Timings
    from decisioning.models import BatchChunk

    stages = Timings()
    for t in BatchChunk.objects.filter(batch_id=batch_id).values_list("timings", flat=True):
        stages.add(Timings.from_dict(t))
    return {
        "batch_id": batch_id,
        "wall_s": wall,
        "stages": stages.as_dict(),
        "workers_cpu_s": sum(cpu.values()),
        "db_backends_cpu_s": None,
        "machine_busy_cpu_s": (busy1[0] - busy0[0]) / TICK,
        "max_worker_rss_mb": max(hwm.values(), default=None),
        "killed": killed,
        "command": "REDIS_URL=" + args.redis + " " + " ".join(cmd[1:]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--source", choices=["generated", "stored", "upload"], default="generated",
                    help="stored: seeds that many stored decisions first (real ones, then SQL clones); "
                         "upload: writes a CSV of generated applications first")
    ap.add_argument("--chunk-size", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--storage", choices=["copy", "bulk"], default=None)
    ap.add_argument("--lease", type=int, default=15, help="chunk lease, seconds")
    ap.add_argument("--nice", type=int, default=0, help="worker niceness (0: as this process)")
    ap.add_argument("--kill-at", type=float, default=None, help="SIGKILL one worker at this progress")
    ap.add_argument("--celery", action="store_true", help="real Celery workers on Redis")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    ap.add_argument("--reference", action="store_true", help="per-row resolve instead of the vectorised path")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()
    setup()
    from django.db import connection

    from decisioning.models import Batch, BatchChunk, BatchResult

    if args.celery and args.source != "generated":
        sys.exit("--celery runs generated batches only")
    run = run_celery(args) if args.celery else run_in_process(args)
    load_after = os.getloadavg()
    batch = Batch.objects.get(pk=run["batch_id"])
    stored = BatchResult.objects.filter(batch=batch).count()
    distinct = BatchResult.objects.filter(batch=batch).values("item").distinct().count()
    chunk_timings = list(BatchChunk.objects.filter(batch=batch).values_list("timings", flat=True))
    st = run["stages"]
    wall_stages = {k: v for k, v in st.items() if k != "cpu"}
    cpu_stages = st["cpu"]
    wall = run["wall_s"]
    n = args.count

    def rate(seconds: float | None) -> int | None:
        return round(n / seconds) if seconds else None

    cores = os.cpu_count() or 1
    # CPU per application, all of it: batch workers plus (in-process mode) their PostgreSQL backends.
    cpu_total = run["workers_cpu_s"] + (run["db_backends_cpu_s"] or 0.0)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "mode": ("celery" if args.celery else "in-process") + (" reference (per-row resolve)" if args.reference else ""),
        "source": args.source,
        "plan_seconds": round(run["plan_s"], 2) if run.get("plan_s") is not None else None,
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
        "batch_row_throughput_per_s": round(batch.throughput or 0),
        "stage_wall_seconds_summed_over_workers": wall_stages,
        "stage_cpu_seconds_summed_over_workers": cpu_stages,
        "stage_rows_per_worker_cpu_second": {k: rate(v) for k, v in cpu_stages.items()},
        "decide_and_store_rows_per_worker_cpu_second": rate(sum(v for k, v in cpu_stages.items() if k != "load")),
        "cpu_seconds": {
            "batch_workers": round(run["workers_cpu_s"], 2),
            "their_postgresql_backends": None if run["db_backends_cpu_s"] is None else round(run["db_backends_cpu_s"], 2),
            "whole_machine_busy": round(run["machine_busy_cpu_s"], 2),
            "whole_machine_available": round(wall * cores, 2),
        },
        "cpu_us_per_application": round(1e6 * cpu_total / n, 1),
        # What the same CPU cost gives when the batch has every core to itself (no other load):
        # an upper bound, not a measurement; re-run on a quiet machine to measure it.
        "cpu_bound_per_s_on_idle_cores": round(cores * n / cpu_total) if cpu_total else None,
        "rows_per_row_path": sum(t.get("per_row", 0) for t in chunk_timings),
        "rule_rechecks": sum(t.get("rule_rechecks", 0) for t in chunk_timings),
        "max_worker_rss_mb": run["max_worker_rss_mb"],
        "killed": run["killed"],
        "command": run.get("command") or "bench/bench_batch.py " + " ".join(sys.argv[1:]),
        "summary_outcomes": (batch.summary or {}).get("outcomes"),
    }
    print(json.dumps(result, indent=2))
    name = f"batch-{'' if args.source == 'generated' else args.source + '-'}{'celery' if args.celery else 'inproc'}{'-reference' if args.reference else ''}-{args.count}{'-kill' if run['killed'] else ''}.json"
    (OUT / name).write_text(json.dumps(result, indent=2))
    print(f"written {OUT / name}")
    if not (stored == distinct == args.count and batch.status == Batch.Status.DONE):
        sys.exit(f"FAILED: status {batch.status}, {stored:,} rows, {distinct:,} distinct items, expected {args.count:,}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
