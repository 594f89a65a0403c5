"""Real processes for end-to-end tests: gunicorn and ``qcluster`` on the test database.

Use them from a ``transactional_db`` test so that what the test writes is committed and
visible to the processes (and what they write is visible to the test).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.processes import LiveProcess, answers_health, free_port, wait_until

BIN = Path(sys.executable).parent


def database_url() -> str:
    """The URL of the database this test process is using (pytest-django's test DB)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s.get("USER") or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tds_site.settings",
            "DATABASE_URL": database_url(),
            "ENV": "test",
            "ZOHO_WEBHOOK_SECRETS": "TdsCoreWebhook2025Secret",
            "WEBHOOK_TOKEN": "test-shared-token-123",
            "WEBHOOK_RATE_LIMIT": "100000/s",
            "DATABASE_POOL_SIZE": "2",
            "DATABASE_MAX_OVERFLOW": "4",
            "API_ACCESS_LOG": "false",
            "API_WORKERS": "2",
            "WORKER_POLL_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("REDIS_URL", None)
    env.update(overrides)
    return env


@contextmanager
def live_api(tmp_path: Path, **env: str) -> Iterator[str]:
    """A real gunicorn serving tds_site.wsgi; yields its base URL."""
    with live_api_process(tmp_path, **env) as (base, _):
        yield base


@contextmanager
def live_api_process(tmp_path: Path, **env: str) -> Iterator[tuple[str, LiveProcess]]:
    """A real gunicorn; yields its base URL and its master process."""
    port = free_port()
    process = LiveProcess(
        [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"],
        process_env(API_HOST="127.0.0.1", API_PORT=str(port), **env),
        tmp_path / f"gunicorn-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_health(base), 30, lambda: process.output())
        yield base, process
    finally:
        process.stop()


@contextmanager
def live_worker(tmp_path: Path, name: str = "worker", **env: str) -> Iterator[LiveProcess]:
    """A real ``manage.py qcluster``."""
    process = LiveProcess(
        [sys.executable, "manage.py", "qcluster"],
        process_env(**env),
        tmp_path / f"qcluster-{name}.log",
    )
    try:
        yield process
    finally:
        process.stop()
