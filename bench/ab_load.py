"""Interleaved load A/B of web server configurations (issue 11).

    .venv/bin/python bench/ab_load.py --configs 2x4,4x2 --rate 100 --block 10 --rounds 6

Every configuration (workers x blocking threads per worker) runs as its own server at the same
time, on the bench database (`bench/load.py`'s set-up: fresh database, seed, champion), idle
until its turn; the open-loop generator then drives them in turn, one block of `--block` seconds
each, round after round. This VM's speed drifts by ±30 % between minutes, so two load runs one
after the other cannot tell two configurations apart; interleaved blocks put the drift on all of
them. Reports pooled P50/P95/P99/max, errors and server CPU per request per configuration, and
the spread of per-block P99s. Only 127.0.0.1; bounded by rounds x configs x block seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import DB_NAME, OUT, REDIS_URL, run_phase  # noqa: E402
from bench.service import (  # noqa: E402
    bench_env,
    children_of,
    percentiles,
    prepare,
    request_bodies,
    start_server,
    stop_server,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="2x4,4x2", help="comma-separated WORKERSxTHREADS")
    parser.add_argument("--server", choices=("granian", "gunicorn"), default="granian")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--block", type=float, default=10.0, help="seconds per configuration per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--port", type=int, default=8811)
    args = parser.parse_args()
    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")]

    env = bench_env(args.port, db_name=DB_NAME, redis_url=REDIS_URL, var_dir=OUT / "var")
    print("preparing: database, migrations, seed (trains the champion)…", flush=True)
    token = prepare(env)
    per_block = int(args.rate * args.block)
    bodies = request_bodies(per_block * len(configs) * (args.rounds + 1) + 200)

    servers = []
    try:
        for i, (workers, threads) in enumerate(configs):
            port = args.port + i
            server = start_server(env, port=port, workers=workers, threads=threads, server=args.server)
            servers.append((f"{workers}x{threads}", port, server, [server.pid, *children_of(server.pid)]))
        index = 0
        for _name, port, _server, pids in servers:  # warm each: connections, caches, code paths
            run_phase(50.0, 3.0, bodies, index, port, token, pids, args.clients)
            index += 150
        latencies: dict[str, list[float]] = {s[0]: [] for s in servers}
        p99s: dict[str, list[float]] = {s[0]: [] for s in servers}
        cpu: dict[str, float] = dict.fromkeys(latencies, 0.0)
        errors: dict[str, int] = dict.fromkeys(latencies, 0)
        for r in range(args.rounds):
            for name, port, _server, pids in servers:
                phase = run_phase(args.rate, args.block, bodies, index, port, token, pids, args.clients)
                index += per_block
                latencies[name] += phase.latencies_ms
                p99s[name].append(percentiles(phase.latencies_ms)["p99"])
                cpu[name] += phase.server_cpu
                errors[name] += phase.errors
            print(f"round {r + 1}/{args.rounds}: " + "  ".join(f"{n} P99 {p99s[n][-1]:.1f}" for n in p99s), flush=True)
    finally:
        for _name, _port, server, _pids in servers:
            stop_server(server)

    print(f"\n{args.server}, {args.rate:.0f} req/s, {args.rounds} rounds of {args.block:.0f} s per configuration")
    for name, values in latencies.items():
        lat = percentiles(values)
        print(f"{name:>6}: P50 {lat['p50']:6.1f}  P95 {lat['p95']:6.1f}  P99 {lat['p99']:6.1f}  max {lat['max']:7.1f} ms  "
              f"errors {errors[name]}  server CPU {1000 * cpu[name] / len(values):.2f} ms/request  "
              f"per-block P99 median {statistics.median(p99s[name]):.1f} (min {min(p99s[name]):.1f}, max {max(p99s[name]):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
