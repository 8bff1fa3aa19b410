"""config.redis.pipeline_for: the hot path's counters reach Django's own Redis client through a
private accessor; these tests fail loudly on a Django upgrade that changes it, and show that
without it the counters still count, through the public cache API."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

import config.redis
from config.redis import pipeline_for
from decisioning.signals.breaker import CircuitBreaker
from decisioning.signals.cache import GuardedCache
from decisioning.signals.registry import RateLimit
from tests.decisioning.test_throttling import Clock, Req, throttle

needs_redis = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the embedded default has no Redis"
)


pytestmark = pytest.mark.usefixtures("clean_counters")


class WithoutAccessor:
    """Django's Redis cache client as a future Django might ship it: no `get_client`."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        if name == "get_client":
            raise AttributeError(name)
        return getattr(self._real, name)


@needs_redis
def test_the_accessor_exists_and_its_pipeline_is_one_round_trip() -> None:
    found = pipeline_for(caches["default"], "probe")
    assert found is not None
    pipe, key = found
    assert key == caches["default"].make_and_validate_key("probe")
    pipe.incr(key, 5)
    pipe.expire(key, 60)
    assert pipe.execute() == [5, True]
    assert cache.get("probe") == 5  # the same keys and pool as the cache's own


def test_another_backend_has_no_pipeline() -> None:
    assert pipeline_for(LocMemCache("x", {}), "k") is None


@needs_redis
def test_without_the_accessor_the_counters_still_count(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    backend = caches["default"]
    monkeypatch.setattr(backend, "_cache", WithoutAccessor(backend._cache))
    monkeypatch.setattr(config.redis, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="verdict.cache"):
        clock = Clock(6_000.0)
        assert [throttle("2/min", clock).allow_request(Req("h"), None) for _ in range(3)] == [True, True, False]
        assert cache.get("throttle_anon_h:100") == 3

        guarded = GuardedCache(CircuitBreaker(failure_threshold=3, cooldown_seconds=5))
        limit = RateLimit(max_pulls=3, window_seconds=60)
        assert [guarded.take_pull("pulls:h", limit) for _ in range(3)] == [1, 2, 3]
    assert [r.getMessage() for r in caplog.records].count(
        "Django's RedisCache has no _cache.get_client: counters use the public cache API") == 1
