"""Soak test of the decision API: a steady open-loop rate for a long time, watching for leaks.

    .venv/bin/python bench/soak.py                  # 10 minutes at 50 requests/s
    .venv/bin/python bench/soak.py --rate 30 --seconds 120
    .venv/bin/python bench/soak.py --smoke          # 40 s at 20 requests/s (sampling every 5 s)

What it does (the service is started as bench/load.py starts it, with bench/service.py):
1. a fresh PostgreSQL database `verdict_soak`, a private redis-server on a free port (so that its
   `connected_clients` counts this service only), migrations, the demo seed with a champion;
2. the web server as in production (granian; `--server gunicorn` for the alternative), DEBUG off,
   plus a Celery worker and beat on that Redis, as in production
   (beat seals the audit chain every second);
3. a warm-up, then requests at fixed arrival times (open loop: latency from the intended send
   time) for the whole run;
4. every `--sample` seconds: the RSS of each web server worker and Celery process, the number of
   PostgreSQL connections to the database (pg_stat_activity), Redis `connected_clients`, the
   latency percentiles and status counts of the interval, and the load average;
5. checks: zero errors; every 201 is a committed decision with its audit event; memory and
   connection counts flat — the last minute against the first minute after warm-up, and the slope
   of a least-squares line through the samples;
6. var/bench/soak.json, var/bench/soak.svg (RSS, connections, latency over time), var/bench/soak.md.

Exit status 1 when a check fails. Only 127.0.0.1 is contacted; every phase is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
DB_NAME = "verdict_soak"
sys.path.insert(0, str(ROOT))

from bench.service import (  # noqa: E402  (after the path set-up, so `python bench/soak.py` works)
    PY,
    Client,
    Phase,
    bench_env,
    children_of,
    percentiles,
    prepare,
    request_bodies,
    rss_mb,
    start_server,
    stop_process_group,
)

# Flatness: growth from the first to the last minute, and the fitted slope, must stay under these.
RSS_GROWTH_MB = 10.0
RSS_GROWTH_FRACTION = 0.05
RSS_SLOPE_MB_PER_MIN = 1.0
CONNECTION_GROWTH = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    redis = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return redis
        except OSError:
            time.sleep(0.05)
    stop_process_group(redis)
    sys.exit("redis-server did not start")


def start_celery(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PY, "-m", "celery", "-A", "config", *args, "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def linear_slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y on x (0 when there are fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


class Sampler:
    def __init__(
        self,
        *,
        server: subprocess.Popen,
        celery: list[subprocess.Popen],
        redis_port: int,
        pg_dsn: str,
    ) -> None:
        import psycopg
        import redis

        self.server, self.celery = server, celery
        # Autocommit, one connection for the whole run: it is counted, so it is constant.
        self.pg = psycopg.connect(pg_dsn, autocommit=True)
        self.redis = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=2)

    def close(self) -> None:
        self.pg.close()
        self.redis.close()

    def sample(self) -> dict:
        workers = {str(pid): rss_mb(pid) for pid in children_of(self.server.pid)}
        celery = {
            str(pid): rss_mb(pid) for p in self.celery for pid in [p.pid, *descendants(p.pid)]
        }
        row = self.pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (DB_NAME,),
        ).fetchone()
        return {
            "server_master_rss_mb": rss_mb(self.server.pid),
            "server_workers_rss_mb": {
                k: round(v, 1) for k, v in workers.items() if v is not None
            },
            "celery_rss_mb": {k: round(v, 1) for k, v in celery.items() if v is not None},
            "pg_connections": int(row[0]) if row else 0,
            "redis_clients": int(self.redis.info("clients")["connected_clients"]) - 1,  # not ours
            "loadavg": [round(v, 2) for v in os.getloadavg()],
        }

    def decisions_and_events(self) -> tuple[int, int, int]:
        decisions = self.pg.execute("SELECT count(*) FROM decisioning_decision").fetchone()[0]
        events = self.pg.execute(
            "SELECT count(*) FROM audit_auditevent WHERE event_type = 'decision.created'"
        ).fetchone()[0]
        orphans = self.pg.execute(
            "SELECT count(*) FROM decisioning_application a WHERE NOT EXISTS "
            "(SELECT 1 FROM decisioning_decision d WHERE d.application_id = a.id)"
        ).fetchone()[0]
        return int(decisions), int(events), int(orphans)


def flatness(series: list[tuple[float, float]], *, window_s: float, kind: str) -> dict:
    """First vs last window (after warm-up) and the fitted slope per minute."""
    if not series:
        return {"ok": True, "note": "no samples"}
    t0, t1 = series[0][0], series[-1][0]
    first = [v for t, v in series if t <= t0 + window_s] or [series[0][1]]
    last = [v for t, v in series if t >= t1 - window_s] or [series[-1][1]]
    slope_per_min = linear_slope(series) * 60
    if kind == "rss":
        base = statistics.fmean(first)
        growth = statistics.fmean(last) - base
        limit = max(RSS_GROWTH_MB, RSS_GROWTH_FRACTION * base)
        ok = growth <= limit and slope_per_min <= RSS_SLOPE_MB_PER_MIN
        return {
            "first_mean": round(base, 1),
            "last_mean": round(base + growth, 1),
            "growth": round(growth, 2),
            "growth_limit": round(limit, 1),
            "slope_per_min": round(slope_per_min, 3),
            "slope_limit": RSS_SLOPE_MB_PER_MIN,
            "ok": ok,
        }
    growth = max(last) - max(first)
    return {
        "first_max": max(first),
        "last_max": max(last),
        "growth": growth,
        "growth_limit": CONNECTION_GROWTH,
        "slope_per_min": round(slope_per_min, 3),
        "ok": growth <= CONNECTION_GROWTH,
    }


def chart(report: dict, path: Path) -> None:
    from config.charts import line_chart

    samples = report["samples"]
    ts = [s["t_s"] / 60 for s in samples]
    workers = sorted({pid for s in samples for pid in s["server_workers_rss_mb"]})
    rss_series = [
        (
            f"web worker {i + 1}",
            [
                (t, s["server_workers_rss_mb"][pid])
                for t, s in zip(ts, samples, strict=True)
                if pid in s["server_workers_rss_mb"]
            ],
        )
        for i, pid in enumerate(workers)
    ]
    celery_total = [(t, sum(s["celery_rss_mb"].values())) for t, s in zip(ts, samples, strict=True)]
    if any(v for _, v in celery_total):
        rss_series.append(("Celery worker + beat (sum)", celery_total))
    width, height = 640, 300
    charts = [
        line_chart(
            rss_series,
            title="Resident memory (MiB)",
            x_label="minutes",
            y_label="MiB",
            width=width,
            height=height,
        ),
        line_chart(
            [
                (
                    "PostgreSQL connections",
                    [(t, s["pg_connections"]) for t, s in zip(ts, samples, strict=True)],
                ),
                (
                    "Redis clients",
                    [(t, s["redis_clients"]) for t, s in zip(ts, samples, strict=True)],
                ),
            ],
            title="Connections",
            x_label="minutes",
            y_label="count",
            width=width,
            height=height,
        ),
        line_chart(
            [
                (name, [(t, s["latency_ms"][key]) for t, s in zip(ts, samples, strict=True)])
                for name, key in (("P50", "p50"), ("P95", "p95"), ("P99", "p99"))
            ],
            title="Decision API latency per interval (ms)",
            x_label="minutes",
            y_label="ms",
            width=width,
            height=height,
        ),
    ]
    total_h = height * len(charts)
    body = "".join(
        svg.replace("<svg ", f'<svg y="{i * height}" ', 1) for i, svg in enumerate(charts)
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total_h}" width="{width}" '
        f'height="{total_h}" role="img"><title>Soak: memory, connections and latency over '
        f"{report['config']['seconds']:.0f} s at {report['config']['rate']:.0f} requests/s</title>{body}</svg>\n"
    )


def markdown(report: dict) -> str:
    c, t = report["config"], report["totals"]
    lines = [
        f"Run {report['when']} — {c['seconds']:.0f} s at {c['rate']:.0f} requests/s (open loop), "
        f"{c.get('server', 'gunicorn')} {c['workers']}x{c['threads']} threads"
        + (", Celery worker + beat" if c["celery"] else "")
        + f", {report['machine']['cpus']} CPUs, load average before {report['machine']['loadavg_before']}"
        f", max during {report['machine']['loadavg_max_1m']} (1-min).",
        "",
        f"- requests: {t['scheduled']:,} scheduled, {t['not_sent']:,} never sent (the service fell behind), "
        f"{t['requests'] + t['warmup']['requests']:,} sent (warm-up included; {t['primed']} more to load the "
        f"model first), {t['created']:,} created (201), "
        f"{t['replayed']} replayed after a client timeout (200), **{t['errors']} errors**; "
        f"statuses {t['statuses']}",
        f"- committed decisions {t['decisions']:,}, `decision.created` audit events {t['audit_events']:,}, "
        f"applications without a decision {t['orphan_applications']}",
        f"- latency over the whole run: P50 {t['latency_ms']['p50']:.1f} ms, P95 {t['latency_ms']['p95']:.1f} ms, "
        f"P99 {t['latency_ms']['p99']:.1f} ms, max {t['latency_ms']['max']:.1f} ms",
        "",
        "| series | first minute | last minute | growth (limit) | slope per minute (limit) | flat |",
        "|---|---|---|---|---|---|",
    ]
    for name, f in report["flatness"].items():
        if "first_mean" in f:
            lines.append(
                f"| {name} (MiB) | {f['first_mean']} | {f['last_mean']} | {f['growth']:+} ({f['growth_limit']}) | "
                f"{f['slope_per_min']:+} ({f['slope_limit']}) | {'yes' if f['ok'] else '**no**'} |"
            )
        elif "first_max" in f:
            lines.append(
                f"| {name} (max) | {f['first_max']} | {f['last_max']} | {f['growth']:+} ({f['growth_limit']}) | "
                f"{f['slope_per_min']:+} | {'yes' if f['ok'] else '**no**'} |"
            )
    lines += ["", "| check | result |", "|---|---|"]
    lines += [f"| {k} | {'PASS' if v else '**FAIL**'} |" for k, v in report["checks"].items()]
    lines += [
        "",
        "Per interval:",
        "",
        "| t (s) | sent | errors | P50 ms | P95 ms | P99 ms | worker RSS MiB | PG conns | Redis clients | load 1m |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["samples"]:
        rss = ", ".join(f"{v:.0f}" for v in s["server_workers_rss_mb"].values())
        lines.append(
            f"| {s['t_s']:.0f} | {s['requests']} | {s['errors']} | {s['latency_ms']['p50']:.1f} | "
            f"{s['latency_ms']['p95']:.1f} | {s['latency_ms']['p99']:.1f} | {rss} | {s['pg_connections']} | "
            f"{s['redis_clients']} | {s['loadavg'][0]} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--window", type=float, default=60.0, help="first/last window of the flatness check (s)"
    )
    parser.add_argument("--server", choices=("granian", "gunicorn"), default="granian",
                        help="web server (granian is the production default)")
    parser.add_argument("--workers", type=int, default=2, help="web server worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--clients", type=int, default=32, help="load-generator connections")
    parser.add_argument("--train-rows", type=int, default=20000)
    parser.add_argument("--no-celery", action="store_true", help="no Celery worker and beat")
    parser.add_argument("--port", type=int, default=0, help="web server port (default: a free one)")
    parser.add_argument(
        "--smoke", action="store_true", help="40 s at 20 requests/s, samples every 5 s"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rate, args.seconds, args.warmup, args.sample, args.window = 20.0, 40.0, 5.0, 5.0, 10.0
        args.train_rows = 4000
    port = args.port or free_port()
    redis_port = free_port()
    OUT.mkdir(parents=True, exist_ok=True)
    redis_dir = Path(tempfile.mkdtemp(prefix="verdict-soak-redis-"))
    loadavg_before = [round(v, 2) for v in os.getloadavg()]
    processes: list[subprocess.Popen] = []
    redis = start_redis(redis_port, redis_dir)
    processes.append(redis)
    try:
        env = bench_env(
            port,
            db_name=DB_NAME,
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            var_dir=OUT / "soak-var",
        )
        print("preparing: database, migrations, seed (trains the champion)…", flush=True)
        token = prepare(env, train_rows=args.train_rows)
        total = int(args.rate * (args.seconds + args.warmup)) + 10
        print(f"generating {total:,} distinct applications…", flush=True)
        bodies = request_bodies(total, seed=4242, prefix="S")

        celery: list[subprocess.Popen] = []
        if not args.no_celery:
            celery.append(start_celery(env, "worker", "-c", "1", "-Q", "celery,batches"))
            celery.append(
                start_celery(
                    env, "beat", "--schedule", str(OUT / "soak-var" / "celerybeat-schedule")
                )
            )
            processes.extend(celery)
        server = start_server(env, port=port, workers=args.workers, threads=args.threads, server=args.server)
        processes.append(server)
        sampler = Sampler(
            server=server, celery=celery, redis_port=redis_port, pg_dsn=env["DATABASE_URL"]
        )
        try:
            report = run(args, port=port, token=token, bodies=bodies, sampler=sampler)
            (
                report["totals"]["decisions"],
                report["totals"]["audit_events"],
                report["totals"]["orphan_applications"],
            ) = sampler.decisions_and_events()
        finally:
            sampler.close()
    finally:
        for process in reversed(processes):
            stop_process_group(process)
        shutil.rmtree(redis_dir, ignore_errors=True)

    t = report["totals"]
    report["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": loadavg_before,
        "loadavg_max_1m": max(s["loadavg"][0] for s in report["samples"]),
    }
    report["checks"] = {
        "zero_errors": t["errors"] == t["replayed"] == 0,
        "kept_up_with_the_offered_rate": t["not_sent"] == 0,
        "every_answer_committed_with_its_audit_event": t["decisions"]
        == t["created"] + t["replayed"] + t["primed"]
        == t["audit_events"]
        and t["orphan_applications"] == 0,
        # Over a smoke run's few seconds start-up growth dominates: reported, not checked.
        **(
            {}
            if args.smoke
            else {f"flat_{name}": f["ok"] for name, f in report["flatness"].items()}
        ),
    }
    name = "soak-smoke" if args.smoke else "soak"
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=2))
    chart(report, OUT / f"{name}.svg")
    (OUT / f"{name}.md").write_text(markdown(report))
    print(markdown(report))
    print(f"written {OUT / (name + '.json')}, .svg, .md")
    return 0 if all(report["checks"].values()) else 1


def prime(*, port: int, token: str, bodies: list[bytes]) -> int:
    """Load the model in every worker before the clock starts: a few rounds of concurrent
    requests (a worker's first decision loads the champion from MLflow, seconds on a busy box)."""
    import http.client

    created: list[int] = []

    def send(body: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request(
                "POST",
                "/api/v1/decisions",
                body=body,
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            if response.status == 201:
                created.append(1)
        finally:
            conn.close()

    for round_ in range(4):
        threads = [
            threading.Thread(target=send, args=(b,))
            for b in bodies[round_ * 16 : (round_ + 1) * 16]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return len(created)


def run(
    args: argparse.Namespace, *, port: int, token: str, bodies: list[bytes], sampler: Sampler
) -> dict:
    primed = prime(port=port, token=token, bodies=bodies[-64:])
    lock = threading.Lock()
    phase_ref = [Phase(rate=args.rate, duration=args.sample)]
    jobs: queue.Queue = queue.Queue()
    clients = [Client(port, token, jobs, phase_ref, lock) for _ in range(args.clients)]
    for c in clients:
        c.start()
    begin = time.perf_counter() + 0.5
    n = int(args.rate * (args.seconds + args.warmup))
    run_id = secrets.token_hex(4)
    for i in range(n):
        jobs.put((begin + i / args.rate, bodies[i % len(bodies)], f"soak-{run_id}-{i}"))
    for _ in clients:
        jobs.put(None)

    print(
        f"warming up {args.warmup:.0f} s, then {args.seconds:.0f} s at {args.rate:.0f}/s…",
        flush=True,
    )
    time.sleep(max(0.0, begin + args.warmup - time.perf_counter()))
    with lock:
        warm = phase_ref[0]
        phase_ref[0] = Phase(rate=args.rate, duration=args.sample)
    start = time.perf_counter()
    samples: list[dict] = []
    every: list[float] = []
    totals = {"requests": 0, "errors": 0, "statuses": {}}
    end = start + args.seconds
    tick = start
    not_sent = 0
    while tick < end - 1e-6:
        tick = min(tick + args.sample, end)
        time.sleep(max(0.0, tick - time.perf_counter()))
        if tick >= end:
            # Requests still queued now were never sent: the service fell behind the offered rate.
            # Drop them (and count them), then let the ones in flight finish.
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    not_sent += 1
            for _ in clients:
                jobs.put(None)
            for c in clients:
                c.join(timeout=max(0.1, end + 30 - time.perf_counter()))
            if any(c.is_alive() for c in clients):
                sys.exit("load clients still busy 30 s after the end; counts would race")
        with lock:
            phase, phase_ref[0] = phase_ref[0], Phase(rate=args.rate, duration=args.sample)
        sample = {
            "t_s": round(time.perf_counter() - start, 1),
            "requests": len(phase.latencies_ms),
            "errors": phase.errors,
            "statuses": phase.statuses,
            "latency_ms": {k: round(v, 2) for k, v in percentiles(phase.latencies_ms).items()},
            **sampler.sample(),
        }
        samples.append(sample)
        every.extend(phase.latencies_ms)
        totals["requests"] += sample["requests"]
        totals["errors"] += phase.errors
        for k, v in phase.statuses.items():
            totals["statuses"][k] = totals["statuses"].get(k, 0) + v
        rss = " ".join(f"{v:.0f}" for v in sample["server_workers_rss_mb"].values())
        print(
            f"{sample['t_s']:6.0f}s sent {sample['requests']:5d} errors {phase.errors:3d}  "
            f"P50 {sample['latency_ms']['p50']:6.1f} P95 {sample['latency_ms']['p95']:6.1f} "
            f"P99 {sample['latency_ms']['p99']:6.1f} ms  RSS {rss} MiB  PG {sample['pg_connections']}  "
            f"Redis {sample['redis_clients']}  load {sample['loadavg'][0]}",
            flush=True,
        )
    warm_statuses = warm.statuses
    totals["created"] = totals["statuses"].get("201", 0) + warm_statuses.get("201", 0)
    # 200 is the stored decision returned to the load client's own retry (same Idempotency-Key)
    # after its 10 s timeout: not an error of the service, but reported, since it means a slow answer.
    totals["replayed"] = totals["statuses"].get("200", 0) + warm_statuses.get("200", 0)
    totals["scheduled"] = n
    totals["not_sent"] = not_sent
    totals["primed"] = primed  # the model-loading requests before the clock starts
    totals["warmup"] = {
        "requests": len(warm.latencies_ms),
        "errors": warm.errors,
        "statuses": warm_statuses,
    }
    totals["errors"] += warm.errors
    totals["latency_ms"] = {k: round(v, 2) for k, v in percentiles(every).items()}

    # Flatness, per web server worker (a worker that was replaced shows as two series), Celery in sum.
    series: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        for i, (_pid, v) in enumerate(sorted(s["server_workers_rss_mb"].items())):
            series.setdefault(f"web_worker_{i + 1}_rss", []).append((s["t_s"], v))
        if s["celery_rss_mb"]:
            series.setdefault("celery_rss", []).append((s["t_s"], sum(s["celery_rss_mb"].values())))
    flat = {
        name: flatness(points, window_s=args.window, kind="rss") for name, points in series.items()
    }
    flat["pg_connections"] = flatness(
        [(s["t_s"], s["pg_connections"]) for s in samples], window_s=args.window, kind="count"
    )
    flat["redis_clients"] = flatness(
        [(s["t_s"], s["redis_clients"]) for s in samples], window_s=args.window, kind="count"
    )
    worker_pids = [sorted(s["server_workers_rss_mb"]) for s in samples]
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {
            "rate": args.rate,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "sample": args.sample,
            "server": args.server,
            "workers": args.workers,
            "threads": args.threads,
            "clients": args.clients,
            "celery": not args.no_celery,
        },
        "web_workers_replaced": len({tuple(p) for p in worker_pids}) > 1,
        "samples": samples,
        "totals": totals,
        "flatness": flat,
    }


if __name__ == "__main__":
    sys.exit(main())
