"""gunicorn settings for the TDS Core API: ``gunicorn -c deploy/gunicorn.conf.py tds_site.wsgi``.

Its workers serve the ASGI application (``tds_site.asgi``), given the WSGI entry point or
none (``wsgi_app``).

Everything comes from the same environment as Django's settings (API_HOST, API_PORT,
API_WORKERS). The master validates the configuration before forking, so a bad variable
stops start-up with one line.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tds_site.settings")
# The API's processes may use psycopg's connection pool (see tds_site.config).
os.environ.setdefault("TDS_DB_POOL", "1")

from django.conf import settings

_host = settings.API_HOST
bind = [f"[{_host}]:{settings.API_PORT}" if ":" in _host else f"{_host}:{settings.API_PORT}"]
workers = settings.API_WORKERS
# Each worker process runs the ASGI application on an event loop (tds_site.uvicorn_worker):
# webhooks are parsed by uvicorn's C HTTP parser and stored on an asynchronous pool, many
# in flight at once, and the console and the rest are served by the WSGI application in
# threads. Beside the seed stack (bench/ingest --peer, bench/README.md) it served more
# webhooks than gthread with 8 threads, the model before it, at less CPU each.
worker_class = "tds_site.uvicorn_worker.TdsUvicornWorker"
# Webhooks are small and answered in milliseconds; a slow client must not hold a worker.
# A request waiting for a pooled connection must get its 503 before the worker is killed.
_pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
timeout = max(30, int(_pool.get("timeout", 0)) + 10)
graceful_timeout = 30
keepalive = 5
# No recycling of workers after so many requests: a recycled worker closes the keep-alive
# connections of its clients (nginx's among them) while they may be sending; its memory
# stays flat (bench/ingest --memory) and the unit's MemoryMax bounds it anyway.
max_requests = 0
proc_name = "tds-core-api"
# systemd (or bin/run) manages the server; one shared control socket per user would
# collide between several instances on one host.
control_socket_disable = True
wsgi_app = "tds_site.asgi:application"
# X-Forwarded-* are trusted by the application from TRUSTED_PROXIES only.
forwarded_allow_ips = ",".join(sorted(settings.TRUSTED_PROXIES)) or "127.0.0.1"

accesslog = "-" if os.environ.get("API_ACCESS_LOG", "true").lower() == "true" else None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(D)sus request_id=%({x-request-id}o)s'
errorlog = "-"
logger_class = "tds_site.gunicorn_logging.TdsGunicornLogger"
loglevel = "info"
# gunicorn's own lines in the same one-JSON-object-per-line shape as the application's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    **{key: settings.LOGGING[key] for key in ("filters", "formatters", "handlers", "root")},
    "loggers": {
        name: {"handlers": ["stdout"], "level": "INFO", "propagate": False}
        for name in ("gunicorn.error", "gunicorn.access")
    },
}
