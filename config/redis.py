"""A pipeline on the Redis client behind Django's Redis cache, for the hot path's counters.

The API throttle and the signal pull counter each need INCR with EXPIRE (and a GET) in one round
trip; Django's public cache API takes two or three (`incr()` is EXISTS + INCR). Django exposes no
public accessor for its Redis client, so this reaches `RedisCache._cache.get_client` (Django 4.0
to 5.x), the same client and connection pool the cache itself uses. If that private accessor ever
changes, `pipeline_for` answers None, logs it once, and the callers take the public cache API:
slower by a round trip or two, never wrong — and tests/config/test_redis.py fails on the upgrade.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger("verdict.cache")
_warned = False


def pipeline_for(backend: BaseCache, key: str) -> tuple[Any, str] | None:
    """(a non-transactional pipeline on the client `backend` uses for `key`, the key as the cache
    stores it), or None: not Django's Redis cache, or its private client accessor has changed."""
    global _warned
    if not isinstance(backend, RedisCache):
        return None
    get_client = getattr(getattr(backend, "_cache", None), "get_client", None)
    if get_client is None:
        if not _warned:
            _warned = True
            logger.warning("Django's RedisCache has no _cache.get_client: counters use the public cache API")
        return None
    stored = backend.make_and_validate_key(key)
    return get_client(stored, write=True).pipeline(transaction=False), stored
