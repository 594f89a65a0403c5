"""The webhook path's asynchronous PostgreSQL pool: Django's settings, psycopg's pool.

Django's ORM is synchronous; served from an event loop, each of its queries would cost a
thread hop. The webhook path (``inbox.asgi``) runs one statement per webhook, so it gets a
``psycopg_pool.AsyncConnectionPool`` of its own per API process, connected exactly as
Django connects (its connection parameters, adapters, prepared-statement threshold),
sized by DATABASE_POOL_SIZE / _MAX_OVERFLOW / _POOL_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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


class WebhookPool:
    """The pool, lending at most ``max_size`` connections, its waiters queued on a
    semaphore: psycopg_pool's own wait (a task and a condition per waiter) was a twentieth
    of a webhook's CPU whenever more webhooks were in flight than connections."""

    def __init__(self) -> None:
        limits = settings.DATABASE_POOL_LIMITS
        self.timeout = limits["timeout"]
        self.pool = AsyncConnectionPool(
            kwargs=connection_kwargs(),
            # It grows with the load; the process's Django pool (console, health) already
            # keeps DATABASE_POOL_SIZE open, and both together must stay under
            # max_connections.
            min_size=1,
            max_size=limits["max_size"],
            timeout=self.timeout,
            check=_lend_only_live,
            open=False,
            name="tds-webhooks",
        )
        self.free = asyncio.Semaphore(limits["max_size"])

    async def open(self) -> None:
        # Not waiting for the first connection: a webhook meanwhile waits for one (or gets
        # its 503), and a process starting while PostgreSQL is down still serves.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    def connection(self) -> _Lent:
        """``async with pool.connection() as conn``: a connection, or PoolTimeout (an
        OperationalError) after DATABASE_POOL_TIMEOUT seconds."""
        return _Lent(self)


class _Lent:
    __slots__ = ("conn", "owner")

    def __init__(self, owner: WebhookPool) -> None:
        self.owner = owner

    async def __aenter__(self) -> AsyncConnection:
        owner = self.owner
        if owner.free.locked():
            try:
                async with asyncio.timeout(owner.timeout):
                    await owner.free.acquire()
            except TimeoutError:
                raise PoolTimeout(f"no connection free within {owner.timeout} s") from None
        else:
            await owner.free.acquire()
        try:
            self.conn = await owner.pool.getconn()
        except BaseException:
            owner.free.release()
            raise
        return self.conn

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.owner.pool.putconn(self.conn)  # rolls back a failed statement's state
        finally:
            self.owner.free.release()


_cursors: weakref.WeakKeyDictionary[AsyncConnection, AsyncCursor] = weakref.WeakKeyDictionary()


def kept_cursor(conn: AsyncConnection) -> AsyncCursor:
    """One cursor per pooled connection, kept: psycopg caches on the cursor which dumper
    adapts each parameter's type (while it runs the same query string object again), and
    a new cursor per webhook looked up every one again (a twentieth of a webhook's CPU)."""
    cursor = _cursors.get(conn)
    if cursor is None or cursor.closed:
        cursor = _cursors[conn] = conn.cursor()
    return cursor
