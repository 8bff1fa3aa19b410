"""Model scoring benchmark (issue 4): one application scored with its explanation, and
vectorised scoring. Trains a demo-shaped model (200 trees, depth 4) on generated data first.

    .venv/bin/python bench/bench_model.py [--rows 200000]

Prints a table and writes bench/out/model.json. Targets (DESIGN.md): single row with
explanation < 1 ms median on one core; vectorised >= 100k applications/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from modeling.features import CATALOGUE, FEATURE_VERSION, build_vector, reason_map
from modeling.scoring import XGBoostScorer, booster_sha256
from modeling.synthetic import generate, training_data
from modeling.training import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-rows", type=int, default=20000)
    parser.add_argument("--rows", type=int, default=200000, help="rows for the vectorised run")
    parser.add_argument("--single", type=int, default=3000, help="single-row iterations")
    args = parser.parse_args()

    end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cases = generate(args.train_rows, seed=7, start=end - dt.timedelta(days=365), end=end)
    X, y, _ = training_data(cases)
    result = train(X, y, feature_names=[f.name for f in CATALOGUE], seed=7, n_bootstrap=2)
    scorer = XGBoostScorer(
        result.booster, model_name="bench", model_version="1", model_hash=booster_sha256(result.booster),
        feature_names=result.feature_names, interval=result.interval, reason_map=reason_map(),
        feature_version=FEATURE_VERSION,
    )
    vectors = [build_vector(c.app, c.signals, as_of=end.date()) for c in cases[:500]]
    for v in vectors[:200]:  # warm up
        scorer.score(v)

    single_us = []
    for i in range(args.single):
        v = vectors[i % len(vectors)]
        t0 = time.perf_counter_ns()
        scorer.score(v)
        single_us.append((time.perf_counter_ns() - t0) / 1000)
    feature_us = []
    for i in range(args.single):
        c = cases[i % len(cases)]
        t0 = time.perf_counter_ns()
        build_vector(c.app, c.signals, as_of=end.date())
        feature_us.append((time.perf_counter_ns() - t0) / 1000)

    reps = max(1, args.rows // len(X))
    big = np.tile(X.astype(np.float32), (reps, 1))[: args.rows]
    scorer.score_matrix(big[:1000])
    t0 = time.perf_counter()
    scorer.score_matrix(big)
    vec_s = time.perf_counter() - t0

    q = statistics.quantiles(single_us, n=100)
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "model": {"trees": result.num_boost_round, "params": {k: v for k, v in result.params.items() if k in ("max_depth", "eta")}},
        "single_row_score_with_explanation_us": {"median": statistics.median(single_us), "p95": q[94], "p99": q[98]},
        "feature_vector_us": {"median": statistics.median(feature_us), "p99": statistics.quantiles(feature_us, n=100)[98]},
        "vectorised": {"rows": len(big), "seconds": vec_s, "rows_per_second": len(big) / vec_s},
        "targets": {"single_median_us": 1000, "vectorised_rows_per_second": 100000},
    }
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "model.json").write_text(json.dumps(report, indent=2))
    s = report["single_row_score_with_explanation_us"]
    print(f"single row, score + explanation: median {s['median']:.0f} µs, p95 {s['p95']:.0f} µs, p99 {s['p99']:.0f} µs (target < 1000 µs)")
    print(f"feature vector: median {report['feature_vector_us']['median']:.0f} µs")
    print(f"vectorised: {report['vectorised']['rows_per_second']:,.0f} rows/s over {len(big):,} rows (target >= 100,000)")
    print(f"written {out / 'model.json'}")


if __name__ == "__main__":
    main()
