"""Load benchmark of the decision API, run as in production (issue 11).

    .venv/bin/python bench/load.py                      # rates 50,100,200,400 req/s, 20 s each
    .venv/bin/python bench/load.py --rates 100 --duration 60
    .venv/bin/python bench/load.py --smoke              # CI: 5 s at 20 req/s, fails on errors only

What it does:
1. a fresh PostgreSQL database `verdict_bench` and Redis db 12 (both on 127.0.0.1), migrations,
   demo seed (products, published rule set, API client + token, a champion trained on 20k rows);
2. gunicorn (gthread workers) with DEBUG off, as in production, simulated providers with no delay;
3. warm-up, then an open-loop load generator in this (separate) process: requests are scheduled
   at fixed arrival times and latency is measured from the *intended* send time, so a server that
   falls behind shows its queueing delay instead of hiding it (no coordinated omission);
4. per rate: P50/P95/P99/max latency, achieved throughput, errors, server and client CPU;
5. the floor in the same run: one bare model predict plus one insert of a decision-shaped row;
6. bench/out/load.json and bench/out/load.svg (latency against rate).

Only 127.0.0.1 is ever contacted; every phase is bounded in requests and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable
DB_NAME = "verdict_bench"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
sys.path.insert(0, str(ROOT))


def bench_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        REDIS_URL="redis://127.0.0.1:6379/9",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback; TLS ends at the load balancer
        VERDICT_VAR_DIR=str(OUT / "var"),
        API_THROTTLE_RATE="10000000/min",
        LOG_LEVEL="WARNING",
        MLFLOW_DISABLE_TELEMETRY="true",
        PYTHONUNBUFFERED="1",
    )
    return env


def reset_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def proc_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (from /proc; Linux)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Phase:
    rate: float
    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0


class Client(threading.Thread):
    """One keep-alive connection; takes (intended_time, body) jobs and records latency from the
    intended time."""

    def __init__(self, port: int, token: str, jobs: queue.Queue, phase_ref: list[Phase], lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.jobs, self.phase_ref, self.lock = port, token, jobs, phase_ref, lock
        self.conn: http.client.HTTPConnection | None = None

    def _send(self, body: bytes, key: str) -> int:
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request(
                    "POST",
                    "/api/v1/decisions",
                    body=body,
                    headers={
                        "Authorization": f"Token {self.token}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": key,
                    },
                )
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0
        return 0

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                if self.conn is not None:
                    self.conn.close()
                return
            intended, body, key = job
            delay = intended - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = self._send(body, key)
            latency = (time.perf_counter() - intended) * 1000
            with self.lock:
                phase = self.phase_ref[0]
                phase.latencies_ms.append(latency)
                phase.statuses[str(status)] = phase.statuses.get(str(status), 0) + 1
                if status != 201:
                    phase.errors += 1


def run_phase(rate: float, duration: float, bodies: list[bytes], start_index: int, port: int, token: str,
              server_pids: list[int], clients: int) -> Phase:
    phase = Phase(rate=rate, duration=duration)
    ref, lock = [phase], threading.Lock()
    jobs: queue.Queue = queue.Queue()
    workers = [Client(port, token, jobs, ref, lock) for _ in range(clients)]
    for w in workers:
        w.start()
    n = int(rate * duration)
    cpu0, client0, t0 = proc_cpu_seconds(server_pids), time.process_time(), time.perf_counter()
    begin = t0 + 0.2
    for i in range(n):
        body = bodies[(start_index + i) % len(bodies)]
        jobs.put((begin + i / rate, body, f"bench-{start_index + i}-{secrets.token_hex(4)}"))
    for _ in workers:
        jobs.put(None)
    deadline = begin + duration + 30
    for w in workers:
        w.join(timeout=max(0.1, deadline - time.perf_counter()))
    phase.wall = time.perf_counter() - begin
    phase.server_cpu = proc_cpu_seconds(server_pids) - cpu0
    phase.client_cpu = time.process_time() - client0
    return phase


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": values[0] if values else 0.0, "p95": 0.0, "p99": 0.0, "max": max(values or [0.0])}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}


FLOOR_SCRIPT = r"""
import json, statistics, time, uuid
import django
django.setup()
from django.db import connection
from decisioning.models import Decision, Product
from decisioning.signals.gateway import simulated_signals
from modeling.features import build_vector
from modeling.serving import get_scorer
from modeling.synthetic import generate
import datetime as dt

product = Product.objects.get(code="personal-loan")
scorer, error = get_scorer(product.code)
assert scorer is not None, error
now = dt.datetime.now(dt.UTC)
case = generate(1, seed=99, start=now - dt.timedelta(days=1), end=now)[0]
vector = build_vector(case.app, simulated_signals(case.app, now=now), as_of=now.date())
columns = [f.column for f in Decision._meta.concrete_fields]
with connection.cursor() as cur:
    cur.execute("CREATE TEMP TABLE floor_decision (LIKE decisioning_decision INCLUDING DEFAULTS)")
    cur.execute("SELECT " + ",".join(columns) + " FROM decisioning_decision LIMIT 1")
    row = list(cur.fetchone())
id_index = columns.index("id")
sql = "INSERT INTO floor_decision (" + ",".join(columns) + ") VALUES (" + ",".join(["%s"] * len(columns)) + ")"
row = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in row]
samples = []
for i in range(600):
    t0 = time.perf_counter()
    scorer.pd_only([vector])
    row[id_index] = uuid.uuid4()
    with connection.cursor() as cur:
        cur.execute(sql, row)
    samples.append((time.perf_counter() - t0) * 1000)
samples = samples[100:]
q = statistics.quantiles(samples, n=100)
print(json.dumps({"p50": statistics.median(samples), "p95": q[94], "p99": q[98]}))
"""


def measure_floor(env: dict[str, str]) -> dict[str, float]:
    result = subprocess.run(
        [PY, "-c", FLOOR_SCRIPT], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        sys.exit(f"floor measurement failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def chart(results: list[dict], path: Path) -> None:
    from config.charts import line_chart

    rates = [r["rate"] for r in results]
    svg = line_chart(
        [(name, [(rate, r["latency_ms"][key]) for rate, r in zip(rates, results, strict=True)])
         for name, key in (("P50", "p50"), ("P95", "p95"), ("P99", "p99"))],
        title="Decision API latency against offered load", x_label="requests/s", y_label="ms",
        width=520, height=340,
    )
    path.write_text(svg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--clients", type=int, default=64, help="load-generator connections")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--smoke", action="store_true", help="5 s at 20 req/s; exit 1 on any error")
    args = parser.parse_args()
    if args.smoke:
        args.rates, args.duration, args.warmup = "20", 5.0, 2.0
    rates = [float(r) for r in args.rates.split(",")]

    OUT.mkdir(parents=True, exist_ok=True)
    env = bench_env(args.port)
    print("preparing: database, migrations, seed (trains the champion)…", flush=True)
    reset_database()
    subprocess.run(["redis-cli", "-n", "12", "FLUSHDB"], check=False, capture_output=True)
    (OUT / "var" / "demo_api_token").unlink(missing_ok=True)  # a fresh database needs a fresh token
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo", "--applications", "0", "--train-rows", "20000")
    manage(env, "collectstatic", "--noinput", "-v", "0")  # as a deployment would
    token = (OUT / "var" / "demo_api_token").read_text().strip()

    import datetime as dt

    from decisioning.payloads import request_body
    from modeling.synthetic import generate

    total = int(sum(rates) * args.duration + 50 * args.warmup) + 100
    now = dt.datetime.now(dt.UTC)
    print(f"generating {total:,} distinct applications…", flush=True)
    cases = generate(total, seed=2026, start=now - dt.timedelta(days=1), end=now)
    bodies = [json.dumps(request_body(c.app, product="personal-loan", reference=f"B-{i}")).encode()
              for i, c in enumerate(cases)]

    gunicorn = subprocess.Popen(
        [PY, "-m", "gunicorn", "config.wsgi", "-k", "gthread", "-w", str(args.workers),
         "--threads", str(args.threads), "-b", f"127.0.0.1:{args.port}", "--keep-alive", "30",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            sys.exit("gunicorn did not start")
        server_pids = [gunicorn.pid, *children_of(gunicorn.pid)]
        print(f"gunicorn up (pids {server_pids}); warming up {args.warmup:.0f} s…", flush=True)
        run_phase(min(50.0, rates[0]), args.warmup, bodies, 0, args.port, token, server_pids, args.clients)
        index = int(50 * args.warmup) + 1

        results = []
        for rate in rates:
            phase = run_phase(rate, args.duration, bodies, index, args.port, token, server_pids, args.clients)
            index += int(rate * args.duration)
            sent = len(phase.latencies_ms)
            lat = percentiles(phase.latencies_ms)
            result = {
                "rate": rate,
                "duration_s": args.duration,
                "requests": sent,
                "throughput_rps": round(sent / phase.wall, 1) if phase.wall else 0.0,
                "errors": phase.errors,
                "statuses": phase.statuses,
                "latency_ms": {k: round(v, 2) for k, v in lat.items()},
                "server_cpu_pct": round(100 * phase.server_cpu / phase.wall, 1),
                "client_cpu_pct": round(100 * phase.client_cpu / phase.wall, 1),
            }
            results.append(result)
            print(f"{rate:6.0f} req/s: {result['throughput_rps']:7.1f}/s  P50 {lat['p50']:7.1f}  P95 {lat['p95']:7.1f}  "
                  f"P99 {lat['p99']:7.1f}  max {lat['max']:7.1f} ms  errors {phase.errors}  "
                  f"CPU server {result['server_cpu_pct']}% client {result['client_cpu_pct']}%", flush=True)
    finally:
        os.killpg(gunicorn.pid, signal.SIGINT)  # quick shutdown: the bench is over
        try:
            gunicorn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)
            gunicorn.wait()

    floor = measure_floor(env)
    print(f"floor (bare predict + one decision-row insert): P50 {floor['p50']:.2f} ms  P95 {floor['p95']:.2f} ms", flush=True)
    by_rate = {r["rate"]: r for r in results}
    checks = {}
    if 100.0 in by_rate:
        r = by_rate[100.0]
        checks["p95_le_25ms_at_100rps"] = r["latency_ms"]["p95"] <= 25
        checks["p99_le_50ms_at_100rps"] = r["latency_ms"]["p99"] <= 50
        checks["zero_errors_at_100rps"] = r["errors"] == 0
        checks["cost_within_3x_floor"] = r["latency_ms"]["p50"] <= 3 * floor["p50"]
    sustained = [r for r in results if r["throughput_rps"] >= 300 and r["latency_ms"]["p99"] <= 200 and r["errors"] == 0]
    if any(r["rate"] >= 300 for r in results):
        checks["ge_300_per_s_with_p99_le_200ms"] = bool(sustained)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
        "server": {"gunicorn_workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
        "results": results,
        "floor_ms": floor,
        "checks": checks,
    }
    name = "load-smoke" if args.smoke else "load"
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=2))
    if not args.smoke:
        chart(results, OUT / "load.svg")
    for check, ok in checks.items():
        print(f"  {'PASS' if ok else 'MISS'}  {check}")
    print(f"written {OUT / (name + '.json')}")
    errors = sum(r["errors"] for r in results)
    if args.smoke and errors:
        print(f"smoke: {errors} errors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
