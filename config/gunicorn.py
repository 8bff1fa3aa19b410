"""gunicorn settings for Verdict (`gunicorn -c config/gunicorn.py config.wsgi`) — the supported
alternative to granian, the production default (README "Production"; granian's Rust HTTP layer
costs ~0.18 ms of CPU per request where gunicorn's Python one costs ~0.52, docs/performance.md).

Threads, not more processes, for concurrency: a decision spends part of its time waiting on
PostgreSQL and Redis, and each process holds its own copy of the models. One process per core
(GUNICORN_WORKERS, default: the number of CPUs) keeps the GIL from capping a core.

Each worker warms its caches (champion model, compiled rule set) before taking traffic, so no
integration waits for a model load (`decisioning.selectors.warm_caches`).
"""

from __future__ import annotations

import logging
import os
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
    from config.warmup import warm_worker

    warm_worker(logging.getLogger("gunicorn.error"))
