"""gunicorn's worker for the API: uvicorn on uvloop with its C HTTP parser (httptools).

gunicorn stays the process manager (systemd socket activation, graceful reloads, worker
timeouts); each worker runs ``tds_site.asgi`` on an event loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# The longest a stopping worker waits for the requests of connections it has accepted.
FIRST_REQUEST_GRACE_SECONDS = 1.0


class GracefulServer(Server):
    """uvicorn's server, minus one race of a graceful stop.

    uvicorn closes at once every connection not serving a request, the ones just accepted
    whose request is still on its way among them: their senders (each webhook on a new
    connection, as Zoho sends) got a connection reset during every reload. This server
    stops accepting first, then lets those connections' first requests arrive and start;
    those get their answer, with ``Connection: close``.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        deadline = time.monotonic() + FIRST_REQUEST_GRACE_SECONDS
        while time.monotonic() < deadline and any(
            getattr(connection, "cycle", True) is None
            for connection in self.server_state.connections
        ):
            await asyncio.sleep(0.02)
        await super().shutdown(sockets)


class TdsUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        # X-Forwarded-For is believed by the application alone, from TRUSTED_PROXIES
        # (tds_site.addresses); uvicorn rewriting the client first would apply it twice.
        "proxy_headers": False,
        "server_header": False,  # no "server: uvicorn" on every answer
        "access_log": os.environ.get("API_ACCESS_LOG", "true").lower() == "true",
    }

    async def _serve(self) -> None:
        # UvicornWorker._serve, with GracefulServer, and TDS Core's ASGI application for its
        # WSGI one: the API's command stays `gunicorn -c deploy/gunicorn.conf.py
        # tds_site.wsgi`, as the contract spells it and the units run it.
        from tds_site import asgi, wsgi  # here, in the worker: the master loads this class

        self.config.app = asgi.application if self.wsgi is wsgi.application else self.wsgi
        server = GracefulServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
