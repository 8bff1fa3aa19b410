"""Interleaved in-process A/B of the decision hot path (issue 11).

    .venv/bin/python bench/ab_decision.py VARIANTS_MODULE [--rounds 30] [--block 20]

This VM's speed drifts by ±15 % from one minute to the next, so a before/after pair of runs cannot
resolve a 5 % change. Here every variant serves a block of decisions in turn, round after round, in
one process (Django's test client against the bench database: run `bench/load.py` once first), and
the thread CPU and wall time per decision are averaged per variant: the drift falls on all of them.

VARIANTS_MODULE is an importable module (e.g. a file on PYTHONPATH) defining

    VARIANTS = {"name": enable_function, ...}

where each function switches the process to that variant (monkeypatching a module attribute, a
setting...). Example, `bench/ab_throttle.py` (the throttle asking Redis on every request against
batching its counts):

    PYTHONPATH=bench .venv/bin/python bench/ab_decision.py ab_throttle

The garbage collector's start-up heap is frozen after the warm-up, as the web workers do.
`--gap-ms 10` idles 10 ms before each decision: the same comparison with the caches as cold as the
load bench's 100/s leaves them (on these VMs a decision costs ~1.5x the CPU paced; docs/performance.md).
"""

from __future__ import annotations

import argparse
import collections
import gc
import importlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", help="importable module defining VARIANTS = {name: enable_function}")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=20, help="decisions per variant per round")
    parser.add_argument("--gap-ms", type=float, default=0.0,
                        help="idle time before each decision (10 = paced at ~100/s: measures the variants as "
                             "the load bench's 100/s finds the machine, caches cold; 0 = back to back)")
    args = parser.parse_args()

    from bench.load import inprocess_decider, setup_django_on_bench_db

    setup_django_on_bench_db()
    variants = importlib.import_module(args.variants).VARIANTS
    decide = inprocess_decider(args.rounds * args.block * len(variants) + 50 * len(variants), prefix="AB")

    for enable in variants.values():  # warm every variant: model, policy, connections, code paths
        enable()
        for _ in range(50):
            decide()
    gc.collect()
    gc.freeze()
    gap = args.gap_ms / 1000
    cpu: dict[str, list[float]] = collections.defaultdict(list)
    wall: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(args.rounds):
        for name, enable in variants.items():
            enable()
            c_sum = w_sum = 0.0
            for _ in range(args.block):
                if gap:
                    time.sleep(gap)
                c0, w0 = time.thread_time(), time.perf_counter()
                decide()
                c_sum += time.thread_time() - c0
                w_sum += time.perf_counter() - w0
            cpu[name].append(c_sum / args.block * 1000)
            wall[name].append(w_sum / args.block * 1000)
    first = None
    for name in variants:
        mean = statistics.mean(cpu[name])
        first = first or mean
        print(f"{name:24s} CPU {mean:.3f} ms/decision (median block {statistics.median(cpu[name]):.3f})  "
              f"wall {statistics.mean(wall[name]):.3f} ms   {100 * (mean / first - 1):+.1f} % vs {next(iter(variants))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
