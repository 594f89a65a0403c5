"""WEBHOOK_RATE_LIMIT per source address, counted in the shared cache.

A fixed window counter: one ``incr`` per request against Redis or the database cache,
so the limit holds across every API process.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
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
        try:
            count = cache.incr(key)
        except ValueError:  # first request of this window
            count = 1 if cache.add(key, 1, timeout=self.window + 1) else cache.incr(key)
        return count <= self.limit

    def wait(self) -> float:
        return max(1.0, self.window_ends - time.time())
