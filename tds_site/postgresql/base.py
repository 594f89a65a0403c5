"""Django's PostgreSQL backend, whose pool never lends a connection the server closed.

The API processes keep a psycopg pool. After a PostgreSQL restart every pooled connection
is dead, and each would fail the next webhook it is lent to. Django hands the pool its own
check (a round trip per request, with CONN_HEALTH_CHECKS) or none; this one costs a
``poll`` of the socket, not a round trip.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base


def closed_by_server(conn: Any) -> bool:
    """An idle connection has nothing to read unless its server wrote to it: the notice and
    end of file that PostgreSQL sends when it shuts down or ends the session."""
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict) -> Any:
        connection = super().get_new_connection(conn_params)
        pool = self.pool
        # At worst every pooled connection died: replace each once, then a fresh one.
        for _ in range(pool.max_size if pool is not None else 0):
            if not closed_by_server(connection):
                break
            connection.close()
            pool.putconn(connection)  # a closed connection leaves the pool for a new one
            connection = super().get_new_connection(conn_params)
        return connection
