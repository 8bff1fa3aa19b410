"""CPU per stage of a decision, back to back and paced (issue 11).

    .venv/bin/python bench/stage_cpu.py [--n 1500] [--gap-ms 10]

Decisions through Django's test client against the bench database (run `bench/load.py` once first),
with the thread CPU time of each stage summed by wrappers around the functions that make it up: the
Django handler, DRF's `initial` (authentication, throttle, permissions, negotiation), the view, and
inside `decision_create` the signals, the decision core (score, rules, counterfactual), the
Idempotency-Key probe, the model instances, the audited INSERT, the response. Exact where sampling
profilers attribute by chance (py-spy put 8 % on `Model.__init__`; timed, it is ~4 %). Run once back
to back and once with `--gap-ms` of idle before each decision, the caches as cold as at 100/s. Nested
stages overlap (a stage's time includes the stages inside it); the wrappers cost ~1 µs each.
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPENT: collections.defaultdict[str, float] = collections.defaultdict(float)


def _timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[label] += time.thread_time() - started

    return wrapper


def instrument() -> None:
    """Wrap the stages (module attributes as the callers look them up, so the wrappers are used)."""
    import django.core.handlers.base as handler
    import rest_framework.views as drf_views

    import audit.services
    import decisioning.apis as apis
    import decisioning.engine.pipeline as pipeline
    import decisioning.models as models
    import decisioning.services as services

    stages: list[tuple[Any, str, str]] = [
        (handler.BaseHandler, "get_response", "1 Django handler (middleware + DRF + view)"),
        (drf_views.APIView, "initial", "2 DRF initial (auth, throttle, permissions, negotiation)"),
        (apis.DecisionCreateApi, "post", "2 view (parse, decide, respond)"),
        (apis, "decision_input_fast", "3 request validation (fast path)"),
        (apis, "application_from_input", "3 ApplicationData from the input"),
        (services, "decision_create", "3 decision_create"),
        (apis.DecisionOut, "to_representation", "3 response body"),
        (services, "_existing_for_key", "4 Idempotency-Key probe (one round trip)"),
        (services, "fetch_signals", "4 signals (simulated providers, records)"),
        (services, "decide", "4 decision core (features, score, rules, counterfactual)"),
        (pipeline, "counterfactual", "5 counterfactual search"),
        (services, "decision_payload", "4 decision payload (JSON columns)"),
        (models.Application, "__init__", "4 Application instance"),
        (models.Decision, "__init__", "4 Decision instance"),
        (services, "audit_record", "4 audited INSERT (one statement, committed)"),
        (audit.services, "insert_new", "5 INSERT execution"),
    ]
    for owner, name, label in stages:
        setattr(owner, name, _timed(getattr(owner, name), label))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="decisions per mode")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="idle before each decision in the paced mode")
    args = parser.parse_args()

    from bench.load import inprocess_decider, setup_django_on_bench_db

    setup_django_on_bench_db()
    instrument()
    decide = inprocess_decider(2 * args.n + 200, prefix="SC")

    for _ in range(200):  # warm: model, rule set, connections, code paths
        decide()
    gc.collect()
    gc.freeze()  # as the web workers do
    results: list[tuple[float, dict[str, float]]] = []
    for gap in (0.0, args.gap_ms / 1000):
        SPENT.clear()
        total = 0.0
        for _ in range(args.n):
            if gap:
                time.sleep(gap)
            started = time.thread_time()
            decide()
            total += time.thread_time() - started
        results.append((total / args.n * 1e6, {k: v / args.n * 1e6 for k, v in SPENT.items()}))
    (b2b_total, b2b), (paced_total, paced) = results
    print(f"{'µs of CPU per decision':64s} {'back to back':>12s} {f'gap {args.gap_ms:g} ms':>12s}")
    print(f"{'0 whole request (test client included)':64s} {b2b_total:12.0f} {paced_total:12.0f}")
    for label in sorted(b2b):
        print(f"{label:64s} {b2b[label]:12.0f} {paced.get(label, 0.0):12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
