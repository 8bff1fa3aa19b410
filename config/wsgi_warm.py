"""The WSGI application for servers that import it once per worker process (granian, the
production default: `make serve`, README "Production"), warmed before the worker serves its first
request (`config.warmup`). gunicorn uses `config.wsgi` with the same warm-up in its
`post_worker_init` hook (config/gunicorn.py).

    granian --interface wsgi --workers 2 --blocking-threads 4 config.wsgi_warm:application
"""

import logging

from config.warmup import warm_worker
from config.wsgi import application

warm_worker(logging.getLogger("verdict.server"))

__all__ = ["application"]
