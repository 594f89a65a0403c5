"""WEBHOOK_RATE_LIMIT per source address, counted where every API process sees it.

A fixed window counter: one INCR in Redis when ``REDIS_URL`` is set (plus an EXPIRE once per
window), else one upsert into ``tds_webhook_rate``. Django's cache ``incr`` would cost three
to five round trips on the database cache, and EXISTS + INCR on Redis.

Ingest needs only the database: while Redis is unreachable the counting moves to the table
(for REDIS_RETRY_SECONDS after each failure, so a dead Redis costs one refused connection
per process now and then, not one per webhook).
"""

from __future__ import annotations

import logging
import time
from functools import cache as cache_per_process

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from inbox.models import RateWindow
from tds_site.addresses import client_address

logger = logging.getLogger("tds.ingest")


class WebhookRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.limit, self.window = SimpleRateThrottle.parse_rate(None, settings.WEBHOOK_RATE_LIMIT)
        self.window_ends = 0.0

    def allow_request(self, request, view) -> bool:
        now = time.time()
        window_index = int(now // self.window)
        self.window_ends = (window_index + 1) * self.window
        source = client_address(request) or "unknown"
        hits = None
        if isinstance(caches[DEFAULT_CACHE_ALIAS], RedisCache) and now >= _redis.retry_at:
            key = f"tds:webhook-rate:{source}:{window_index}"
            try:
                hits = _count_in_redis(key, self.window + 1)
            except RedisError as error:
                _redis.retry_at = now + REDIS_RETRY_SECONDS
                logger.warning("Redis unreachable; counting webhooks in the database: %s", error)
        if hits is None:
            hits = _count_in_database(source, window_index)
        return hits <= self.limit

    def wait(self) -> float:
        return max(1.0, self.window_ends - time.time())


REDIS_RETRY_SECONDS = 5.0


class _RedisState:
    retry_at = 0.0  # time.time() before which Redis is not tried again


_redis = _RedisState()


@cache_per_process
def _redis_client():
    """One client per process: Django's cache builds a new one on every call."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    return backend._cache.get_client(write=True)


def _count_in_redis(key: str, ttl: int) -> int:
    """Add one to the window's counter and return it."""
    full_key = caches[DEFAULT_CACHE_ALIAS].make_and_validate_key(key)
    client = _redis_client()
    count = client.incr(full_key)
    if count == 1:  # the window's first request starts its expiry
        client.expire(full_key, ttl)
    return count


_TABLE = RateWindow._meta.db_table
# One row per source: a hit in a new window starts its count again.
_HIT = (
    f"INSERT INTO {_TABLE} (source, window_index, hits) VALUES (%s, %s, 1) "
    f"ON CONFLICT (source) DO UPDATE SET hits = CASE "
    f"WHEN {_TABLE}.window_index = excluded.window_index THEN {_TABLE}.hits + 1 ELSE 1 END, "
    f"window_index = excluded.window_index RETURNING hits"
)
_FORGET = f"DELETE FROM {_TABLE} WHERE window_index < %s"


def _count_in_database(source: str, window_index: int) -> int:
    """Add one to the source's count in this window and return it."""
    with connection.cursor() as cursor:
        cursor.execute(_HIT, [source[:64], window_index])
        (hits,) = cursor.fetchone()
        if hits == 1:
            # A source's first webhook of a window: drop the sources that went quiet, so the
            # table holds only those seen in the last two windows.
            cursor.execute(_FORGET, [window_index - 1])
    return hits
