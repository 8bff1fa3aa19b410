"""Load-balancer probes. `/healthz`: the process answers. `/readyz`: it can do its job."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as e:  # a probe reports failures, it never raises
        ok, detail = False, f"{type(e).__name__}: {e}"[:200]
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 2), "detail": detail or ""}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _cache() -> str:
    cache.set("readyz", "1", 5)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not return what was written")
    return cache.__class__.__name__


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager (no broker)"
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    client.ping()
    return "redis"


def _models() -> str:
    from decisioning.models import Product
    from modeling.serving import get_scorer

    missing = []
    for code in Product.objects.filter(is_active=True).values_list("code", flat=True):
        scorer, error = get_scorer(code)
        if scorer is None:
            missing.append(f"{code}: {error}")
    if missing:
        raise RuntimeError("; ".join(missing))
    return "champions loaded"


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _timed(_database), "cache": _timed(_cache), "broker": _timed(_broker)}
    if checks["database"]["ok"]:
        checks["models"] = _timed(_models)
    # Without the cache or the broker decisions still go through (uncached; background work
    # waits), so those degrade readiness; without the database or a model nothing can be decided.
    ready = checks["database"]["ok"] and checks.get("models", {}).get("ok", False)
    healthy = checks["cache"]["ok"] and checks["broker"]["ok"]
    status = "ready" if ready and healthy else ("degraded" if ready else "unavailable")
    return JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)
