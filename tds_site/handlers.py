"""The WSGI application: webhooks get a Django handler with only the middleware they use.

A webhook carries no session, user, CSRF token or flash message, and it is the hot path:
running sessions, auth, messages, CSRF, WhiteNoise and the rest on every one cost about a
sixth of the API's CPU. Everything else (admin, dashboard, health, metrics) is served by
the full stack of ``MIDDLEWARE``. Both handlers share the URLconf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

WEBHOOK_PATH_PREFIX = "/webhooks/"


class WebhookHandler(WSGIHandler):
    """A WSGIHandler built from ``WEBHOOK_MIDDLEWARE`` instead of ``MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django's loader reads settings.MIDDLEWARE; lend it the webhook list while it
        # builds the chain (once, at start-up, before any request is served).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def route_webhooks(
    webhooks: WSGIHandler, site: WSGIHandler
) -> Callable[[dict, Callable], Iterable[bytes]]:
    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        is_webhook = environ.get("PATH_INFO", "").startswith(WEBHOOK_PATH_PREFIX)
        return (webhooks if is_webhook else site)(environ, start_response)

    return application
