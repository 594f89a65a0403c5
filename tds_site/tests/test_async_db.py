"""The webhooks' asynchronous pool connects as Django does, and lends only live connections."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from django.db import connection

from tds_site import async_db

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the pool serves PostgreSQL only"
)


def test_connections_are_django_s_in_autocommit_without_its_cursor_classes():
    kwargs = async_db.connection_kwargs()
    expected = connection.get_connection_params()
    assert kwargs["dbname"] == expected["dbname"]
    assert kwargs["prepare_threshold"] == expected["prepare_threshold"]
    assert kwargs["autocommit"] is True
    assert "cursor_factory" not in kwargs


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_not_lent(settings):
    settings.DATABASE_POOL_LIMITS = {"min_size": 1, "max_size": 1, "timeout": 5}

    async def run() -> tuple[int, int, int]:
        pool = async_db.WebhookPool()
        await pool.open()
        try:
            async with pool.connection() as conn:
                first = conn.info.backend_pid
            # Another session ends it while it is idle in the pool, as a restart would.
            other = await psycopg.AsyncConnection.connect(**async_db.connection_kwargs())
            async with other:
                await other.execute("SELECT pg_terminate_backend(%s)", [first])
            await asyncio.sleep(0.2)
            async with pool.connection() as conn:
                cursor = await conn.execute("SELECT pg_backend_pid()")
                (after,) = await cursor.fetchone()
            return first, after, pool.free._value
        finally:
            await pool.close()

    first, after, free = asyncio.run(run())
    assert after != first
    assert free == 1  # every connection lent was given back
