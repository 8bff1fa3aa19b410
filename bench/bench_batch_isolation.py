"""Live decision latency without and with a batch running on the same machine (issue 10).

    .venv/bin/python bench/bench_batch_isolation.py                       # 50 req/s, nice 0 and 10
    .venv/bin/python bench/bench_batch_isolation.py --rate 100 --duration 30 --nices 10

What it does (everything on 127.0.0.1):
1. a fresh PostgreSQL database `verdict_batch_iso` (this benchmark's own), migrations, the demo
   seed (products, published rule set, API client + token, a champion trained on 20k rows);
   Redis db 13 (`--redis`) for the web's cache and broker — never flushed, only the keys this run
   uses are deleted at the end;
2. the production web server (granian, DEBUG off; `--server gunicorn` for the alternative), via
   `bench/service.py`;
3. per phase, the open-loop generator of `bench/load.py` (`run_phase`: requests at fixed arrival
   times, latency from the *intended* send time, so queueing shows) at `--rate` for `--duration`:
   - `baseline`: no batch;
   - `batch nice N` for each N in `--nices`: a real `celery -A config worker -Q batches -c 1`
     (BATCH_NICE=N) works a generated batch started with `manage.py run_batch --celery`; the
     phase starts once the batch is running and the run checks it was still running at the end;
4. P50/P95/P99/max, throughput and errors per phase, the batch's rows/s during the phase, server
   CPU, and the load average around each phase, into bench/out/batch-isolation.json.

The machine's load average is part of every number: on a machine shared with other work, both
phases are slower than on a quiet one, and the difference between them is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import run_phase  # noqa: E402  (the open-loop generator the load bench uses)
from bench.service import (  # noqa: E402
    bench_env,
    children_of,
    manage,
    percentiles,
    request_bodies,
    reset_database,
    start_server,
    stop_process_group,
    stop_server,
)

OUT = ROOT / "bench" / "out"
DB_NAME = "verdict_batch_iso"
PY = sys.executable


def batch_progress(env: dict[str, str], batch_id: int) -> tuple[str, int]:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT status, done FROM decisioning_batch WHERE id = %s", (batch_id,)).fetchone()
    return (row[0], row[1]) if row else ("missing", 0)


def latest_batch(env: dict[str, str]) -> int | None:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT max(id) FROM decisioning_batch").fetchone()
    return row[0] if row else None


def summarise(phase: object, rate: float) -> dict:
    lat = percentiles(phase.latencies_ms)  # type: ignore[attr-defined]
    sent = len(phase.latencies_ms)  # type: ignore[attr-defined]
    return {
        "rate": rate,
        "requests": sent,
        "throughput_rps": round(sent / phase.wall, 1) if phase.wall else 0.0,  # type: ignore[attr-defined]
        "errors": phase.errors,  # type: ignore[attr-defined]
        "latency_ms": {k: round(v, 2) for k, v in lat.items()},
        "server_cpu_pct": round(100 * phase.server_cpu / phase.wall, 1) if phase.wall else 0.0,  # type: ignore[attr-defined]
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=50.0, help="live requests per second")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    ap.add_argument("--nices", default="0,10", help="batch worker niceness per batch phase")
    ap.add_argument("--batch-count", type=int, default=2_000_000, help="large enough to outlast a phase")
    ap.add_argument("--workers", type=int, default=2, help="web server worker processes")
    ap.add_argument("--server", choices=("granian", "gunicorn"), default="granian")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--port", type=int, default=8797)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    var_dir = OUT / "var-batch-iso"
    env = bench_env(args.port, db_name=DB_NAME, redis_url=args.redis, var_dir=var_dir,
                    extra={"BATCH_LEASE_SECONDS": "30", "MODEL_REFRESH_SECONDS": "0"})

    print("preparing: database, migrations, seed (trains the champion)…", flush=True)
    reset_database(DB_NAME)
    (var_dir / "demo_api_token").unlink(missing_ok=True)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo", "--applications", "0", "--train-rows", "20000")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    token = (var_dir / "demo_api_token").read_text().strip()
    nices = [int(x) for x in args.nices.split(",") if x.strip()]
    per_phase = int(args.rate * args.duration)
    bodies = request_bodies(int(args.rate * 5) + per_phase * (1 + len(nices)) + 100, seed=2027, prefix="ISO")

    server = start_server(env, port=args.port, workers=args.workers, threads=args.threads, server=args.server)
    phases: list[dict] = []
    try:
        server_pids = [server.pid, *children_of(server.pid)]
        print(f"{args.server} up (pids {server_pids}); warming up 5 s…", flush=True)
        run_phase(args.rate, 5, bodies, 0, args.port, token, server_pids, args.clients)
        index = int(args.rate * 5) + 1

        load0 = os.getloadavg()
        base = run_phase(args.rate, args.duration, bodies, index, args.port, token, server_pids, args.clients)
        index += per_phase
        phases.append({"phase": "baseline (no batch)", **summarise(base, args.rate),
                       "loadavg_before": load0, "loadavg_after": os.getloadavg()})
        print(f"baseline: {phases[-1]['latency_ms']}", flush=True)

        for nice in nices:
            wenv = {**env, "BATCH_NICE": str(nice)}
            log = open(OUT / f"celery-iso-nice{nice}.log", "w")  # noqa: SIM115
            worker = subprocess.Popen(
                [PY, "-m", "celery", "-A", "config", "worker", "-Q", "batches", "-c", "1",
                 "--prefetch-multiplier", "1", "-n", f"iso{nice}@%h", "--loglevel", "WARNING"],
                cwd=ROOT, env=wenv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            starter = subprocess.Popen(
                [PY, "manage.py", "run_batch", "--generated", str(args.batch_count), "--celery",
                 "--chunk-size", "5000", "-v", "0"],
                cwd=ROOT, env=wenv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            batch_id = None
            deadline = time.time() + 90
            while time.time() < deadline:
                batch_id = latest_batch(env)
                if batch_id is not None and batch_progress(env, batch_id)[1] > 0:
                    break
                time.sleep(0.5)
            else:
                print("the batch did not start within 90 s", file=sys.stderr)
            _, done0 = batch_progress(env, batch_id) if batch_id else ("", 0)
            load0 = os.getloadavg()
            t0 = time.perf_counter()
            phase = run_phase(args.rate, args.duration, bodies, index, args.port, token, server_pids, args.clients)
            elapsed = time.perf_counter() - t0
            index += per_phase
            status, done1 = batch_progress(env, batch_id) if batch_id else ("missing", 0)
            phases.append({
                "phase": f"batch running, worker nice {nice}", **summarise(phase, args.rate),
                "batch_rows_per_s_during_phase": round((done1 - done0) / elapsed),
                "batch_still_running_at_end": status == "running",
                "loadavg_before": load0, "loadavg_after": os.getloadavg(),
            })
            print(f"batch nice {nice}: {phases[-1]['latency_ms']}, batch {phases[-1]['batch_rows_per_s_during_phase']}/s",
                  flush=True)
            stop_process_group(starter, sig=signal.SIGTERM)
            stop_process_group(worker, sig=signal.SIGKILL)  # the batch is abandoned with its database
            log.close()
    finally:
        stop_server(server)
        subprocess.run(["redis-cli", "-u", args.redis, "DEL", "batches", "celery", "unacked", "unacked_index"],
                       check=False, capture_output=True)

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "server": {"name": args.server, "workers": args.workers, "threads": args.threads},
        "batch_worker": "celery -A config worker -Q batches -c 1 --prefetch-multiplier 1 (BATCH_NICE as named)",
        "phases": phases,
        "command": "bench/bench_batch_isolation.py " + " ".join(sys.argv[1:]),
    }
    (OUT / "batch-isolation.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written {OUT / 'batch-isolation.json'}")
    return 1 if any(p["errors"] for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
