"""WEBHOOK_RATE_LIMIT per source address, counted where every API process sees it.

A fixed window counter: an INCRBY in Redis when ``REDIS_URL`` is set (plus an EXPIRE once
per window), else an upsert into ``tds_webhook_rate``. Django's cache ``incr`` would cost
three to five round trips on the database cache, and EXISTS + INCR on Redis.

A round trip per webhook was a quarter of a webhook's time, so each process adds its hits
to the shared count in batches of a 32nd of the limit (``batch_size``): between two, it
admits on the shared count it last saw plus its own. Under a limit of 32 per window every
hit is counted at once, exactly as before; above it, all processes together may admit up
to one batch each past the limit in a window (3 of 100/s per process), never fewer.

Ingest needs only the database: while Redis is unreachable the counting moves to the table
(for REDIS_RETRY_SECONDS after each failure, so a dead Redis costs one refused connection
per process now and then, not one per webhook).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cache as cache_per_process

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from inbox.models import RateWindow

logger = logging.getLogger("tds.ingest")


BATCHES_PER_LIMIT = 32


def batch_size(limit: int) -> int:
    """Hits a process admits before it adds them to the shared count."""
    return max(1, limit // BATCHES_PER_LIMIT)


@dataclass
class _SourceCount:
    shared: int = 0  # the shared count of this window as this process last saw it
    sending: int = 0  # hits on their way to it (a full batch whose round trip is under way)
    unsent: int = 0  # hits admitted here and not yet added to it


class _Counts:
    """This process's view of the current window. One lock, as the API serves in threads;
    it is never held across a round trip, which the event loop's path awaits."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window_index = -1
        self.by_source: dict[str, _SourceCount] = {}


_counts = _Counts()


@dataclass(frozen=True)
class FullBatch:
    """A source's full batch of hits, to add to the shared count (``count_shared``) before
    the hit that filled it is judged (``settle``)."""

    source: str
    window_index: int
    window: int
    limit: int
    hits: int

    def count_shared(self) -> int:
        return _count_shared(self.source, self.window_index, self.window, self.hits)

    def settle(self, shared: int) -> float | None:
        with _counts.lock:
            if _counts.window_index == self.window_index:
                count = _counts.by_source.setdefault(self.source, _SourceCount())
                count.sending = max(0, count.sending - self.hits)
                count.shared = max(count.shared, shared)
        return None if shared <= self.limit else _retry_after(self.window_index, self.window)


def count_hit(source: str) -> float | FullBatch | None:
    """Count one webhook from ``source`` in this process: None when admitted, seconds until
    the window ends when refused (the Retry-After of the 429), or the batch it filled."""
    limit, window = SimpleRateThrottle.parse_rate(None, settings.WEBHOOK_RATE_LIMIT)
    window_index = int(time.time() // window)
    batch = batch_size(limit)
    with _counts.lock:
        if window_index != _counts.window_index:  # the old window's counts matter no more
            _counts.window_index = window_index
            _counts.by_source = {}
        count = _counts.by_source.setdefault(source, _SourceCount())
        if count.unsent + 1 >= batch:  # a batch is full (with a batch of 1, every hit)
            hits, count.unsent = count.unsent + 1, 0
            count.sending += hits
            return FullBatch(source, window_index, window, limit, hits)
        if count.shared + count.sending + count.unsent >= limit:
            return _retry_after(window_index, window)
        count.unsent += 1
        return None


def over_limit(source: str) -> float | None:
    """``count_hit``, its full batch counted where every process sees it: None when
    admitted, else the Retry-After seconds."""
    verdict = count_hit(source)
    if isinstance(verdict, FullBatch):
        return verdict.settle(verdict.count_shared())
    return verdict


def _retry_after(window_index: int, window: int) -> float:
    return max(1.0, (window_index + 1) * window - time.time())


def _count_shared(source: str, window_index: int, window: int, hits: int) -> int:
    """Add ``hits`` to the source's shared count of the window; returns the new count."""
    if isinstance(caches[DEFAULT_CACHE_ALIAS], RedisCache) and time.time() >= _redis.retry_at:
        key = f"tds:webhook-rate:{source}:{window_index}"
        try:
            return _count_in_redis(key, window + 1, hits)
        except RedisError as error:
            _redis.retry_at = time.time() + REDIS_RETRY_SECONDS
            logger.warning("Redis unreachable; counting webhooks in the database: %s", error)
    return _count_in_database(source, window_index, hits)


REDIS_RETRY_SECONDS = 5.0


class _RedisState:
    retry_at = 0.0  # time.time() before which Redis is not tried again


_redis = _RedisState()


@cache_per_process
def _redis_client():
    """One client per process: Django's cache builds a new one on every call."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    return backend._cache.get_client(write=True)


def _count_in_redis(key: str, ttl: int, hits: int = 1) -> int:
    """Add ``hits`` to the window's counter and return it."""
    full_key = caches[DEFAULT_CACHE_ALIAS].make_and_validate_key(key)
    client = _redis_client()
    count = client.incrby(full_key, hits)
    if count == hits:  # the window's first hits start its expiry
        client.expire(full_key, ttl)
    return count


_TABLE = RateWindow._meta.db_table
# One row per source: a hit in a new window starts its count again.
_HIT = (
    f"INSERT INTO {_TABLE} (source, window_index, hits) VALUES (%s, %s, %s) "
    f"ON CONFLICT (source) DO UPDATE SET hits = CASE WHEN {_TABLE}.window_index = "
    f"excluded.window_index THEN {_TABLE}.hits + excluded.hits ELSE excluded.hits END, "
    f"window_index = excluded.window_index RETURNING hits"
)
_FORGET = f"DELETE FROM {_TABLE} WHERE window_index < %s"


def _count_in_database(source: str, window_index: int, hits: int = 1) -> int:
    """Add ``hits`` to the source's count in this window and return it."""
    with connection.cursor() as cursor:
        cursor.execute(_HIT, [source[:64], window_index, hits])
        (count,) = cursor.fetchone()
        if count == hits:
            # A source's first webhook of a window: drop the sources that went quiet, so the
            # table holds only those seen in the last two windows.
            cursor.execute(_FORGET, [window_index - 1])
    return count
