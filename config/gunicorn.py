"""gunicorn settings for Verdict (`gunicorn -c config/gunicorn.py config.wsgi`).

Threads, not more processes, for concurrency: a decision spends part of its time waiting on
PostgreSQL and Redis, and each process holds its own copy of the models. One process per core
(GUNICORN_WORKERS, default: the number of CPUs) keeps the GIL from capping a core.

Each worker warms its caches (champion model, compiled rule set) before taking traffic, so no
integration waits for a model load (`decisioning.selectors.warm_caches`).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 30))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))  # 0: no recycling
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None


def post_worker_init(worker: Any) -> None:
    started = time.perf_counter()
    log = logging.getLogger("gunicorn.error")
    try:
        from decisioning.selectors import warm_caches

        loaded = warm_caches()
    except Exception as e:  # e.g. the database is down: serve and load lazily
        log.warning("worker %s: cache warm-up skipped (%s)", worker.pid, type(e).__name__)
        return
    log.info("worker %s warmed in %.1f s: %s", worker.pid, time.perf_counter() - started, loaded)
    # Everything loaded so far (Django, DRF, xgboost, MLflow, the models: ~400k objects) lives for
    # the life of the worker. Frozen, the cyclic garbage collector stops re-scanning it on every
    # full collection — a pause of tens of milliseconds for every thread of the worker, which
    # showed as P99 spikes under load.
    gc.collect()
    gc.freeze()
