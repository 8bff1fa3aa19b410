"""Per-worker start-up shared by the production web servers (issue 11).

Each worker process warms its caches (champion model, compiled rule set) before it takes traffic,
so no integration waits for a model load, then freezes its start-up heap: everything loaded so
far (Django, DRF, xgboost, MLflow, the models: ~400k objects) lives as long as the worker, and
frozen, the cyclic garbage collector stops re-scanning it on every full collection — a pause of
tens of milliseconds for every thread of the worker, which showed as P99 spikes under load.
"""

from __future__ import annotations

import gc
import logging
import os
import time


def warm_worker(log: logging.Logger) -> None:
    started = time.perf_counter()
    try:
        from decisioning.selectors import warm_caches

        loaded = warm_caches()
    except Exception as e:  # e.g. the database is down: serve and load lazily
        log.warning("worker %s: cache warm-up skipped (%s)", os.getpid(), type(e).__name__)
        return
    log.info("worker %s warmed in %.1f s: %s", os.getpid(), time.perf_counter() - started, loaded)
    gc.collect()
    gc.freeze()
