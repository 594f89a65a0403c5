"""The worker's long statements are parsed once, not on every event."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg import _queries

from syncqueue.statement_cache import STATEMENT_LENGTH, STATEMENT_PARAMS


def test_the_cache_takes_statements_as_long_as_the_workers():
    # Renamed constants in a psycopg upgrade would leave the cache narrow: this says so.
    assert _queries.MAX_CACHED_STATEMENT_LENGTH >= STATEMENT_LENGTH
    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= STATEMENT_PARAMS


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's cache")
def test_a_long_statement_with_many_parameters_is_parsed_once():
    sql = "SELECT " + ", ".join(["%s::int"] * 300) + " -- " + "x" * 5000
    with connection.cursor() as cursor:
        cursor.execute(sql, list(range(300)))
        before = _queries._query2pg.cache_info().hits
        cursor.execute(sql, list(range(300)))
        assert _queries._query2pg.cache_info().hits == before + 1
