"""psycopg's cache of parsed statements, wide enough for the worker's.

psycopg turns each ``%s`` statement into PostgreSQL's ``$n`` form with a regular
expression, and caches the result only for statements up to 4,096 characters and 50
parameters. The worker's one statement per event (lease, upsert, lines, backfills, status,
log row) is longer, with more parameters for a document with lines: it was parsed again for
every event, 15 % of the worker's CPU (bench/README.md). The statements are few (one per
entity and line count; the cache keeps the 128 last used), so caching them all costs little.
"""

from __future__ import annotations

from psycopg import _queries

STATEMENT_LENGTH = 65536
STATEMENT_PARAMS = 4096


def widen() -> None:
    # Module constants read on every execute: raising them is all it takes.
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(
        _queries.MAX_CACHED_STATEMENT_LENGTH, STATEMENT_LENGTH
    )
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(
        _queries.MAX_CACHED_STATEMENT_PARAMS, STATEMENT_PARAMS
    )
