"""The application the API's workers serve (``tds_site.uvicorn_worker``).

Webhooks are served on the event loop by ``inbox.asgi.WebhookApp``; every other request
(console, dashboard, health, metrics) by the WSGI application of ``tds_site.wsgi``, in a
pool of threads, as gunicorn's threaded workers served it.
"""

from __future__ import annotations

import os
from typing import Any

import django
from a2wsgi import WSGIMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tds_site.settings")
django.setup(set_prefix=False)

from inbox.asgi import WebhookApp  # noqa: E402
from tds_site.wsgi import application as wsgi_application  # noqa: E402

SITE_THREADS = 8


class Application:
    def __init__(self) -> None:
        self.site = WSGIMiddleware(wsgi_application, workers=SITE_THREADS)
        self.webhooks = WebhookApp(self.site)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.webhooks.serves(scope):
            await self.webhooks(scope, receive, send)
        else:
            await self.site(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.webhooks.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.webhooks.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = Application()
