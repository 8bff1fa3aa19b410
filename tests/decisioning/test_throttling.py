"""The per-client sliding-window throttle, driven by a fake clock on the real configured cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from decisioning.throttling import ClientRateThrottle


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Req:
    def __init__(self, ident: str) -> None:
        self.META = {"REMOTE_ADDR": ident}
        self.headers: dict[str, str] = {}
        self.auth = None


def throttle(rate: str, clock: Clock) -> ClientRateThrottle:
    class T(ClientRateThrottle):
        THROTTLE_RATES = {"client": rate}
        timer = clock

    return T()


@pytest.fixture(autouse=True)
def _clean_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


def test_it_allows_the_limit_then_refuses_with_retry_after() -> None:
    clock = Clock(6_000.0)  # the start of a minute window
    results = [throttle("3/min", clock).allow_request(Req("10.0.0.1"), None) for _ in range(4)]
    assert results == [True, True, True, False]
    t = throttle("3/min", clock)
    assert t.allow_request(Req("10.0.0.1"), None) is False
    # 5 counted in this window: under the limit once 5 x (1 - f) ≤ 3 in the next one, f = 0.4.
    assert t.wait() == 60 + 24


def test_a_window_boundary_does_not_double_the_rate() -> None:
    clock = Clock(6_059.0)  # one second before the window ends
    assert all(throttle("10/min", clock).allow_request(Req("a"), None) for _ in range(10))
    clock.now = 6_061.0  # one second into the next window: the last window still weighs ~98 %
    assert throttle("10/min", clock).allow_request(Req("a"), None) is False
    clock.now = 6_060 + 30  # half-way: 10 x 0.5 + 1 refused + this one ≤ 10
    assert throttle("10/min", clock).allow_request(Req("a"), None) is True


def test_retry_after_is_when_a_request_is_allowed_again() -> None:
    clock = Clock(6_000.0)
    for _ in range(6):
        t = throttle("4/min", clock)
        t.allow_request(Req("b"), None)
    wait = t.wait()
    clock.now += wait - 1
    assert throttle("4/min", clock).allow_request(Req("b"), None) is False
    clock.now += 1 + wait  # the refused probe above counted too; wait as long again
    assert throttle("4/min", clock).allow_request(Req("b"), None) is True


def test_clients_are_counted_separately() -> None:
    clock = Clock(6_000.0)
    assert [throttle("1/min", clock).allow_request(Req("c"), None) for _ in range(2)] == [True, False]
    assert throttle("1/min", clock).allow_request(Req("d"), None) is True


def test_a_cache_outage_lets_requests_through(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    with monkeypatch.context() as patched:  # undone before the fixture clears the cache
        patched.setattr(cache, "incr", down)
        patched.setattr(cache, "add", down)
        if isinstance(caches["default"], RedisCache):  # the pipelined path talks to the client directly
            patched.setattr(caches["default"]._cache, "get_client", down)
        clock = Clock(6_000.0)
        assert all(throttle("1/min", clock).allow_request(Req("e"), None) for _ in range(3))


def test_redis_takes_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Redis the counts come from one pipeline; Django's incr() (EXISTS + INCR) is not used."""
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("the embedded default has no Redis")

    def not_used(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Django's two-round-trip incr() was used")

    monkeypatch.setattr(cache, "incr", not_used)
    clock = Clock(6_000.0)
    assert [throttle("2/min", clock).allow_request(Req("f"), None) for _ in range(3)] == [True, True, False]
    assert cache.get("throttle_anon_f:100") == 3  # the raw INCR-ed value reads back through the cache
