"""The per-client sliding-window throttle, driven by a fake clock on the real configured cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from decisioning import throttling
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


pytestmark = pytest.mark.usefixtures("clean_counters")


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


def _stored(key: str, window: int) -> int:
    return int(cache.get(f"{key}:{window}") or 0)


def test_far_from_the_limit_a_process_batches_its_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under half the limit a process asks the cache at most every SYNC_EVERY requests (or
    SYNC_SECONDS); nothing it counted is lost: the batch is added at the next read."""
    asked: list[int] = []
    real = ClientRateThrottle._counts

    def counting(self: Any, *args: Any) -> Any:
        asked.append(1)
        return real(self, *args)

    monkeypatch.setattr(ClientRateThrottle, "_counts", counting)
    clock = Clock(6_000.0)
    t = throttle("1000/min", clock)
    assert all(t.allow_request(Req("g"), None) for _ in range(100))
    assert len(asked) == 4  # requests 1, 34, 67 and 100 ask, each sending the ones before it
    assert _stored("throttle_anon_g", 100) == 100
    assert t.allow_request(Req("g"), None)  # the 101st is counted here
    assert len(asked) == 4 and _stored("throttle_anon_g", 100) == 100
    clock.now += throttling.SYNC_SECONDS  # time is up: the next request sends the batch
    assert t.allow_request(Req("g"), None)
    assert len(asked) == 5 and _stored("throttle_anon_g", 100) == 102


def test_near_the_limit_every_request_asks_the_cache() -> None:
    clock = Clock(6_000.0)
    t = throttle("100/min", clock)
    assert all(t.allow_request(Req("h"), None) for _ in range(100))
    assert _stored("throttle_anon_h", 100) == 100  # over half: nothing stays local
    assert t.allow_request(Req("h"), None) is False  # the 101st


def test_two_processes_overshoot_the_limit_by_at_most_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process batching under half the limit does not see what another adds until its next
    read: together they let through at most SYNC_EVERY more than the limit, and lose no count."""
    clock = Clock(6_000.0)
    process_a: dict[str, Any] = {}
    process_b: dict[str, Any] = {}
    allowed = sent = 0

    def send(local: dict[str, Any]) -> bool:
        nonlocal allowed, sent
        monkeypatch.setattr(throttling, "_local", local)
        ok = throttle("200/min", clock).allow_request(Req("j"), None)
        allowed, sent = allowed + ok, sent + 1
        return ok

    for _ in range(60):  # A: well under half, mostly batched
        send(process_a)
    while send(process_b):  # B: up to the limit as B sees it
        pass
    while send(process_a):  # A: its batch runs out or its next read shows the truth
        pass
    assert 200 <= allowed <= 200 + throttling.SYNC_EVERY, allowed
    send(process_a)  # a refused request reads, and so sends what A still held
    assert _stored("throttle_anon_j", 100) == sent  # every request counted, refused ones too


def test_a_batch_left_at_a_window_boundary_is_added_to_that_window() -> None:
    clock = Clock(6_050.0)
    t = throttle("1000/min", clock)
    assert all(t.allow_request(Req("i"), None) for _ in range(10))  # 1 sent, 9 pending
    assert _stored("throttle_anon_i", 100) == 1
    clock.now = 6_061.0  # next window
    assert t.allow_request(Req("i"), None)
    assert _stored("throttle_anon_i", 100) == 10 and _stored("throttle_anon_i", 101) == 1
