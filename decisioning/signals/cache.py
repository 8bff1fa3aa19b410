"""Provider answers cached in the Django cache (Redis in production), and the pull counters.

Keys carry no personal data: they hold an HMAC (keyed by SECRET_KEY) of what the provider is
sent, so a key read out of Redis cannot be reversed by guessing names and birth dates the way a
plain SHA-256 could. Rotating SECRET_KEY therefore empties the signal cache — harmless.

The cache is an optimisation, never a dependency: any cache error is logged (without personal
data) and swallowed, the decision goes on uncached, and a per-process breaker stops asking the
cache for `cache_retry_seconds` so that a Redis that hangs costs one socket timeout, not one per
decision.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.utils.crypto import salted_hmac

from audit.canonical import canonical_json
from config.redis import pipeline_for
from decisioning.engine.types import ApplicationData
from decisioning.signals.breaker import CircuitBreaker, CircuitOpen
from decisioning.signals.providers import SignalProvider, request_payload
from decisioning.signals.registry import RateLimit

logger = logging.getLogger("verdict.signals")

KEY_VERSION = "v1"


def _digest(value: str) -> str:
    return salted_hmac("verdict.signals.cache", value, algorithm="sha256").hexdigest()


def answer_key(provider: SignalProvider, app: ApplicationData) -> str:
    """Same provider, same version, same request → same key (an answer depends on nothing else)."""
    request = canonical_json(request_payload(app, provider.request_fields))
    return f"signals:{KEY_VERSION}:{provider.signal_type}:{provider.name}:{provider.version}:{_digest(request)}"


def pulls_key(signal_type: str, app: ApplicationData) -> str:
    """Per applicant (identity only), whatever else the application says: no amplification by
    varying the amount or the address history."""
    return f"signals:{KEY_VERSION}:pulls:{signal_type}:{_digest(app.identity_key())}"


class GuardedCache:
    """The Django default cache behind a breaker; every method degrades to "no cache"."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker

    def _run(self, what: str, fn: Any, fallback: Any) -> Any:
        try:
            self.breaker.before_call()
        except CircuitOpen:
            return fallback
        try:
            result = fn()
        except Exception as e:
            self.breaker.failure()
            logger.warning(
                "signal cache unavailable during %s (%s); deciding uncached", what, type(e).__name__
            )
            return fallback
        self.breaker.success()
        return result

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not keys:
            return {}
        return self._run("get", lambda: cache.get_many(keys), {})

    def set(self, key: str, value: Any, ttl: int) -> None:
        self._run("set", lambda: cache.set(key, value, timeout=ttl), None)

    def set_many(self, entries: Iterable[tuple[str, Any, int]]) -> None:
        """Several (key, value, ttl) writes: one round trip per distinct TTL (Redis pipelines
        `set_many`), instead of one per answer."""
        by_ttl: dict[int, dict[str, Any]] = {}
        for key, value, ttl in entries:
            by_ttl.setdefault(ttl, {})[key] = value
        for ttl, values in by_ttl.items():
            self._run("set", lambda values=values, ttl=ttl: cache.set_many(values, timeout=ttl), None)

    def take_pull(self, key: str, limit: RateLimit) -> int | None:
        """Count one provider pull; the count in this window (including it), or None if unknown.

        `add` then `incr` are each atomic in Redis (SET NX, INCRBY), so concurrent decisions for
        one applicant never both see a count under the cap. The window starts at the first pull
        and the key expires with it.
        """

        def count() -> int:
            backend = caches[DEFAULT_CACHE_ALIAS]
            if (found := pipeline_for(backend, key)) is not None:
                # One round trip: INCR, and EXPIRE NX so only the first pull starts the window.
                pipe, raw = found
                pipe.incr(raw)
                pipe.expire(raw, limit.window_seconds, nx=True)
                return int(pipe.execute()[0])
            cache.add(key, 0, timeout=limit.window_seconds)
            try:
                return int(cache.incr(key))
            except ValueError:  # expired between add and incr: a new window starts now
                cache.add(key, 1, timeout=limit.window_seconds)
                return 1

        return self._run("pull count", count, None)
