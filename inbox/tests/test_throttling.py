"""The webhook rate counter kept in the database when there is no Redis."""

from __future__ import annotations

import pytest
from django.db import connection

from inbox.models import RateWindow
from inbox.throttling import _count_in_database

pytestmark = pytest.mark.django_db


def test_each_source_is_counted_on_its_own_within_a_window():
    assert [_count_in_database("10.0.0.1", 100) for _ in range(3)] == [1, 2, 3]
    assert _count_in_database("10.0.0.2", 100) == 1
    assert _count_in_database("10.0.0.1", 100) == 4


def test_a_new_window_starts_the_count_again_and_forgets_quiet_sources():
    _count_in_database("10.0.0.1", 100)
    _count_in_database("10.0.0.1", 100)
    _count_in_database("10.0.0.2", 100)
    _count_in_database("10.0.0.3", 101)
    assert _count_in_database("10.0.0.1", 102) == 1
    # Sources last seen before the previous window are gone; the previous window's stay.
    assert dict(RateWindow.objects.values_list("source", "window_index")) == {
        "10.0.0.1": 102,
        "10.0.0.3": 101,
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL storage mode")
def test_the_counters_are_not_written_to_the_wal():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'tds_webhook_rate'")
        assert cursor.fetchone() == ("u",)  # unlogged
