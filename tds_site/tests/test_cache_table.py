"""``migrate`` alone makes the database cache's table (CONTRACT §1), on a database that has
never seen TDS Core and on one where an older install ran ``createcachetable`` itself."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests import live
from tests.processes import ROOT

CACHE_ROUND_TRIP = (
    "from django.core.cache import caches; c = caches['default']; "
    "print(type(c).__name__, c._table); c.set('probe', 'kept', 60); print(c.get('probe'))"
)


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database on the server the suite runs on."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    s = connection.settings_dict
    server = {
        "host": s.get("HOST") or "127.0.0.1",
        "port": s.get("PORT") or 5432,
        "user": s.get("USER") or None,
        "password": s.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    name = f"tds_fresh_{secrets.token_hex(4)}"
    with psycopg.connect(**server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield live.database_url().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(**server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def manage(url: str, *args: str) -> str:
    env = live.process_env(DATABASE_URL=url)
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_migrate_alone_makes_the_cache_work(fresh_database_url):
    manage(fresh_database_url, "migrate", "--no-input", "-v0")
    assert manage(fresh_database_url, "shell", "-v0", "-c", CACHE_ROUND_TRIP).split() == [
        "DatabaseCache",
        "tds_cache",
        "kept",
    ]


def test_migrate_keeps_a_cache_table_made_by_createcachetable(fresh_database_url):
    manage(fresh_database_url, "createcachetable")
    manage(fresh_database_url, "migrate", "--no-input", "-v0")
    assert manage(fresh_database_url, "shell", "-v0", "-c", CACHE_ROUND_TRIP).split()[-1] == "kept"
