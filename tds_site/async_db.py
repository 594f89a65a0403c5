"""The webhook path's asynchronous PostgreSQL pool: Django's settings, psycopg's pool.

Django's ORM is synchronous; served from an event loop, each of its queries would cost a
thread hop. The webhook path (``inbox.asgi``) runs one statement per webhook, so it gets a
``psycopg_pool.AsyncConnectionPool`` of its own per API process, connected exactly as
Django connects (its connection parameters, adapters, prepared-statement threshold),
sized by DATABASE_POOL_SIZE / _MAX_OVERFLOW / _POOL_TIMEOUT.
"""

from __future__ import annotations

import weakref
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from tds_site.postgresql.base import closed_by_server


def uses_postgresql() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def connection_kwargs() -> dict[str, Any]:
    """What Django passes to ``psycopg.connect``, for an asynchronous connection."""
    params = dict(connections[DEFAULT_DB_ALIAS].get_connection_params())
    params.pop("cursor_factory", None)  # Django's synchronous cursor classes
    params["autocommit"] = True  # each statement is its own transaction, as in Django
    return params


async def _lend_only_live(conn: AsyncConnection) -> None:
    # After a PostgreSQL restart every idle connection is dead; the pool replaces a
    # connection whose check raises. A poll of its socket, not a round trip per webhook.
    if closed_by_server(conn):
        await conn.close()  # else the pool takes it back as idle, and lends it again
        raise ConnectionError("the server closed this pooled connection")


def new_pool() -> AsyncConnectionPool:
    """A closed pool (``await pool.open()`` inside the event loop that will use it)."""
    limits = settings.DATABASE_POOL_LIMITS
    return AsyncConnectionPool(
        kwargs=connection_kwargs(),
        # It grows with the load; the process's Django pool (console, health) already keeps
        # DATABASE_POOL_SIZE open, and both together must stay under max_connections.
        min_size=1,
        max_size=limits["max_size"],
        timeout=limits["timeout"],
        check=_lend_only_live,
        open=False,
        name="tds-webhooks",
    )


_cursors: weakref.WeakKeyDictionary[AsyncConnection, AsyncCursor] = weakref.WeakKeyDictionary()


def kept_cursor(conn: AsyncConnection) -> AsyncCursor:
    """One cursor per pooled connection, kept: psycopg caches on the cursor which dumper
    adapts each parameter's type (while it runs the same query string object again), and
    a new cursor per webhook looked up every one again (a twentieth of a webhook's CPU)."""
    cursor = _cursors.get(conn)
    if cursor is None or cursor.closed:
        cursor = _cursors[conn] = conn.cursor()
    return cursor
