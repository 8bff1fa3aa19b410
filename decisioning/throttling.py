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

Far from the limit, counts are batched per process (issue 11): asking Redis on every request was
~11 % of a decision's CPU. A process counts its own requests and adds them to Redis (INCRBY, in the
same pipeline) at most `SYNC_SECONDS` or `SYNC_EVERY` requests apart, judging in between from the
global counts it last read plus its own. Its estimate can therefore lag what other processes did
since its last read, so it batches only while that estimate is under half the limit
(`EXACT_ABOVE`); from there on every request asks Redis. A process that has not read for a while
can let through at most one batch (SYNC_EVERY requests) before its next read shows the truth, so
the limit can be overshot by at most SYNC_EVERY per process (two web workers: 64, 1 % of the
default 6,000/min), and no request goes uncounted — tests/decisioning/test_throttling.py shows both.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from config.redis import pipeline_for
from decisioning.models import IntegrationClient

SYNC_SECONDS = 0.25
SYNC_EVERY = 32
EXACT_ABOVE = 0.5
MAX_KEYS = 10_000


@dataclass(slots=True)
class _Counts:
    """One key's window as this process last read it from the cache, plus what it has not added."""

    window: int
    current: int  # the window's global count at the last read (this process's additions included)
    previous: int  # the previous window's global count at the last read
    pending: int  # this process's requests since, not yet added to the cache
    read_at: float


_local: dict[str, _Counts] = {}
_lock = threading.Lock()


def forget_local_counts() -> None:
    """Drop this process's batched counts (tests that clear the cache clear these too)."""
    with _lock:
        _local.clear()


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
        self.now = now = self.timer()
        window = int(now // self.duration)
        self.window_end = (window + 1) * self.duration
        elapsed = (now - window * self.duration) / self.duration
        with _lock:
            counts = _local.get(key)
            if (
                counts is not None
                and counts.window == window
                and now - counts.read_at < SYNC_SECONDS
                and counts.pending < SYNC_EVERY
                and counts.previous * (1 - elapsed) + counts.current + counts.pending + 1
                <= EXACT_ABOVE * self.num_requests
            ):
                counts.pending += 1  # far from the limit: counted here, added to the cache later
                self.current, self.previous = counts.current + counts.pending, counts.previous
                return True
            add, add_previous = 1, 0
            if counts is not None and counts.window == window:
                add += counts.pending
                counts.pending = 0
            elif counts is not None and counts.window == window - 1:  # the last window's unsent tail
                add_previous, counts.pending = counts.pending, 0
        try:
            current, previous = self._counts(f"{key}:{window}", f"{key}:{window - 1}", add, add_previous)
        except Exception:  # cache backend unavailable
            return True
        with _lock:
            counts = _local.get(key)
            if counts is not None and counts.window == window:  # requests counted meanwhile stay pending
                counts.current, counts.previous, counts.read_at = current, previous, now
            else:
                if len(_local) >= MAX_KEYS:  # keys of past windows are dead weight
                    for stale in [k for k, c in _local.items() if c.window < window - 1]:
                        del _local[stale]
                _local[key] = _Counts(window, current, previous, 0, now)
        self.current, self.previous = current, previous
        return previous * (1 - elapsed) + current <= self.num_requests

    def _counts(self, current_key: str, previous_key: str, add: int = 1, add_previous: int = 0) -> tuple[int, int]:
        """This window's count after adding `add` requests, and the previous window's count after
        adding `add_previous` (requests this process counted there but had not yet sent)."""
        backend = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache  # not the proxy
        if (found := pipeline_for(backend, current_key)) is not None:
            pipe, now_key = found
            # One round trip: INCR + EXPIRE + GET in a pipeline (Django's incr() is EXISTS + INCR).
            # Django's Redis cache stores ints unpickled, so cache.get() reads these keys too.
            pipe.incr(now_key, add)
            pipe.expire(now_key, 2 * self.duration + 1)  # read as "previous" by the next window
            then_key = backend.make_and_validate_key(previous_key)
            if add_previous:
                pipe.incr(then_key, add_previous)
                pipe.expire(then_key, self.duration + 1)  # never a key without expiry
            else:
                pipe.get(then_key)
            current, _, previous, *_ = pipe.execute()
            return int(current), int(previous or 0)
        previous = self._increment(previous_key, add_previous) if add_previous else int(self.cache.get(previous_key, 0))
        return self._increment(current_key, add), previous

    def _increment(self, key: str, add: int) -> int:
        try:
            return self.cache.incr(key, add)
        except ValueError:  # first request of this window (or the key just expired)
            # Kept for two windows: the next window reads it as its "previous" count.
            if self.cache.add(key, add, timeout=2 * self.duration + 1):
                return add
            return self.cache.incr(key, add)

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
