"""Per-integration-client request rate (API_THROTTLE_RATE) as a sliding-window counter.

DRF's `SimpleRateThrottle` keeps every request's timestamp in one cached list that it reads,
unpickles, rewrites and pickles on each request: O(rate) bytes per request — at 300 requests/s
under a 10,000/min limit that is ~100 KB through Redis twice per decision. Here each client has
one integer per window (INCR, O(1)) and the estimate is the standard sliding-window counter:

    estimate = previous_window_count x (1 - elapsed fraction of the current window) + current_count

which never lets a client double its rate at a window boundary the way a fixed window would.
Refused requests count too, so a client that keeps hammering stays refused; `Retry-After` is when
the estimate will be back under the limit if the client stops.

If the cache is down the request is let through: throttling protects capacity, it must not take
the service down with Redis.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from decisioning.models import IntegrationClient


class ClientRateThrottle(SimpleRateThrottle):
    scope = "client"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, IntegrationClient):
            return f"throttle_client_{request.auth.pk}"
        return f"throttle_anon_{self.get_ident(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        try:
            self.current, self.previous = self._counts(f"{key}:{window}", f"{key}:{window - 1}")
        except Exception:  # cache backend unavailable
            return True
        elapsed = (self.now - window * self.duration) / self.duration
        return self.previous * (1 - elapsed) + self.current <= self.num_requests

    def _counts(self, current_key: str, previous_key: str) -> tuple[int, int]:
        """This window's count after counting this request, and the previous window's count."""
        backend = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache  # not the proxy
        if isinstance(backend, RedisCache):
            # One round trip: INCR + EXPIRE + GET in a pipeline (Django's incr() is EXISTS + INCR).
            # Django's Redis cache stores ints unpickled, so cache.get() reads these keys too.
            now_key = backend.make_and_validate_key(current_key)
            client = backend._cache.get_client(now_key, write=True)
            pipe = client.pipeline(transaction=False)
            pipe.incr(now_key)
            pipe.expire(now_key, 2 * self.duration + 1)  # read as "previous" by the next window
            pipe.get(backend.make_and_validate_key(previous_key))
            current, _, previous = pipe.execute()
            return int(current), int(previous or 0)
        return self._increment(current_key), int(self.cache.get(previous_key, 0))

    def _increment(self, key: str) -> int:
        try:
            return self.cache.incr(key)
        except ValueError:  # first request of this window (or the key just expired)
            # Kept for two windows: the next window reads it as its "previous" count.
            if self.cache.add(key, 1, timeout=2 * self.duration + 1):
                return 1
            return self.cache.incr(key)

    def wait(self) -> float:
        """Seconds until the estimate is back under the limit if the client sends nothing more."""
        limit, duration = self.num_requests, self.duration
        now_fraction = 1 - (self.window_end - self.now) / duration
        if self.current <= limit and self.previous:
            # Still in this window: previous x (1 - f) + current ≤ limit once f reaches this.
            fraction = 1 - (limit - self.current) / self.previous
            seconds = (fraction - now_fraction) * duration
        else:
            # In the next window this window's count decays: current x (1 - f) ≤ limit.
            seconds = self.window_end - self.now + max(0.0, 1 - limit / self.current) * duration
        return float(max(1, math.ceil(seconds)))
