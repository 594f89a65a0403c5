"""gunicorn's worker for the API: uvicorn on uvloop with its C HTTP parser (httptools).

gunicorn stays the process manager (systemd socket activation, graceful reloads, worker
timeouts); each worker runs ``tds_site.asgi`` on an event loop.
"""

from __future__ import annotations

import os

from uvicorn_worker import UvicornWorker


class TdsUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        # X-Forwarded-For is believed by the application alone, from TRUSTED_PROXIES
        # (tds_site.addresses); uvicorn rewriting the client first would apply it twice.
        "proxy_headers": False,
        "access_log": os.environ.get("API_ACCESS_LOG", "true").lower() == "true",
    }
