"""The fault-injection suite: real gunicorn and qcluster on a PostgreSQL of their own.

Each test gets a fresh database (a copy of one migrated template) on a private cluster that
it may stop, restart or kill; a private Redis likewise. Every test ends with an exact count
(``FaultDatabase.assert_accounted``): each event sent ended applied, stale or dead-lettered,
none was applied twice, and no attempt was used up by a fault that was not the event's.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings

from tests.instances import PrivatePostgres, PrivateRedis
from tests.live import process_env
from tests.processes import ROOT

TEMPLATE = "tds_template"
_names = itertools.count(1)


def pytest_collection_modifyitems(items):
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="the fault suite runs in the PostgreSQL pass of bin/test")
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres("faults")
    pg.start()
    pg.create_database(TEMPLATE)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=process_env(DATABASE_URL=pg.url(TEMPLATE)),
        check=True,
    )
    yield pg
    pg.destroy()


@dataclass
class FaultDatabase:
    cluster: PrivatePostgres
    name: str

    @property
    def url(self) -> str:
        return self.cluster.url(self.name)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        # A new connection each time: the server may have restarted since the last query.
        with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, params: tuple = ()) -> object:
        return self.rows(sql, params)[0][0]

    def by_status(self) -> dict[str, int]:
        return dict(self.rows("SELECT status, count(*) FROM tds_sync_queue GROUP BY status"))

    def invoice_totals(self) -> dict[str, Decimal]:
        return dict(self.rows("SELECT zoho_id, total FROM invoices"))

    def finished(self) -> int:
        return self.value(
            "SELECT count(*) FROM tds_sync_queue WHERE status IN ('completed', 'dead_letter')"
        )

    def assert_accounted(self, sent: int, *, dead_lettered: int = 0, failed_attempts: int = 0):
        """Every event sent ended once; only the events' own faults used attempts."""
        assert self.value("SELECT count(*) FROM tds_inbox_events WHERE validity = 'accepted'") == (
            sent
        )
        expected = {"completed": sent - dead_lettered}
        if dead_lettered:
            expected["dead_letter"] = dead_lettered
        statuses = self.by_status()
        assert statuses == expected, statuses
        finishes = self.rows(
            "SELECT entry_id, count(*) FROM tds_sync_logs "
            "WHERE outcome IN ('applied', 'stale', 'dead_letter') GROUP BY entry_id "
            "HAVING count(*) > 1"
        )
        assert finishes == [], f"entries finished more than once: {finishes}"
        assert (
            self.value("SELECT count(*) FROM tds_sync_logs WHERE outcome IN ('applied', 'stale')")
            == sent - dead_lettered
        )
        assert self.value("SELECT count(*) FROM tds_sync_logs WHERE outcome = 'failed'") == (
            failed_attempts
        )
        extra = self.rows(
            "SELECT q.id, q.attempts, count(l.id) FROM tds_sync_queue q "
            "LEFT JOIN tds_sync_logs l ON l.entry_id = q.id "
            "GROUP BY q.id HAVING q.attempts <> count(l.id)"
        )
        assert extra == [], f"attempts used up without a logged outcome: {extra}"


@pytest.fixture
def faultdb(cluster: PrivatePostgres) -> Iterator[FaultDatabase]:
    if not cluster.is_running():  # a test that stopped it and failed before starting it
        cluster.start()
    name = f"tds_fault_{next(_names)}"
    cluster.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}", database="postgres")
    yield FaultDatabase(cluster, name)
    if not cluster.is_running():
        cluster.start()
    cluster.psql(f"DROP DATABASE {name} WITH (FORCE)", database="postgres")


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.destroy()
