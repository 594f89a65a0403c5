"""WEBHOOK_RATE_LIMIT per source address, counted in the shared cache.

A fixed window counter: one ``incr`` per request against Redis or the database cache,
so the limit holds across every API process. On Redis it is one INCR (plus an EXPIRE once
per window) rather than Django's EXISTS + INCR (+ SET on a new window).
"""

from __future__ import annotations

import time
from functools import cache as cache_per_process

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from inbox.addresses import client_address


class WebhookRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.limit, self.window = SimpleRateThrottle.parse_rate(None, settings.WEBHOOK_RATE_LIMIT)
        self.window_ends = 0.0

    def allow_request(self, request, view) -> bool:
        now = time.time()
        window_index = int(now // self.window)
        self.window_ends = (window_index + 1) * self.window
        key = f"tds:webhook-rate:{client_address(request)}:{window_index}"
        return _count(key, self.window + 1) <= self.limit

    def wait(self) -> float:
        return max(1.0, self.window_ends - time.time())


@cache_per_process
def _redis_client():
    """One client per process: Django's cache builds a new one on every call."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    return backend._cache.get_client(write=True)


def _count(key: str, ttl: int) -> int:
    """Add one to the window's counter and return it."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        client = _redis_client()
        count = client.incr(full_key)  # Django stores ints as plain Redis ints
        if count == 1:  # the window's first request starts its expiry
            client.expire(full_key, ttl)
        return count
    try:
        return cache.incr(key)
    except ValueError:  # first request of this window
        return 1 if cache.add(key, 1, timeout=ttl) else cache.incr(key)
