"""A small, thread-safe circuit breaker (closed → open → half-open → closed).

Why not pybreaker: its `CircuitBreaker.call` holds one lock for the whole duration of the wrapped
call, so every concurrent call to a provider would queue behind one that hangs; and it times the
cool-down with the wall clock. Here the lock guards only state changes, time is monotonic, and
half-open lets exactly one probe through while every other caller fails fast.

State lives in the process (each web worker has its own breakers): a provider that is down is
discovered by each worker after `failure_threshold` failures of its own. That is deliberate —
no shared store (Redis) sits on the path that decides whether to call a provider at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refused the call without trying it."""


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cooldown_seconds <= 0:
            raise ValueError("cooldown_seconds must be positive")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state == BreakerState.OPEN and self._cooled_down():
                return BreakerState.HALF_OPEN
            return self._state

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.cooldown_seconds

    def before_call(self) -> None:
        """Raise `CircuitOpen` unless a call may go ahead now; the caller must then report
        exactly one `success()` or `failure()`."""
        with self._lock:
            if self._state == BreakerState.CLOSED:
                return
            if self._state == BreakerState.OPEN:
                if not self._cooled_down():
                    remaining = self.cooldown_seconds - (self._clock() - self._opened_at)
                    raise CircuitOpen(
                        f"circuit open after {self._failures} consecutive failures; next probe in {remaining:.1f} s"
                    )
                self._state = BreakerState.HALF_OPEN
                self._probe_in_flight = False
            if self._probe_in_flight:
                raise CircuitOpen("circuit half-open: a probe call is in flight")
            self._probe_in_flight = True

    def success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._probe_in_flight = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
            self._probe_in_flight = False
