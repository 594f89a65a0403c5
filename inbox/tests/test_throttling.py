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


def test_a_large_limit_is_counted_in_batches(settings, monkeypatch):
    """Above 32 a window, a process adds its hits to the shared count a batch at a time."""
    from inbox import throttling

    settings.WEBHOOK_RATE_LIMIT = "3200/m"  # batches of 100
    monkeypatch.setattr(throttling, "_counts", throttling._Counts())
    shared: list[int] = []
    real = throttling._count_shared

    def counting(source, window_index, window, hits):
        shared.append(hits)
        return real(source, window_index, window, hits)

    monkeypatch.setattr(throttling, "_count_shared", counting)
    assert all(throttling.over_limit("10.0.0.9") is None for _ in range(250))
    assert shared == [100, 100]  # two round trips, not 250
    assert RateWindow.objects.get(source="10.0.0.9").hits == 200


def test_other_processes_hits_count_once_a_batch_is_added(settings, monkeypatch):
    """The limit holds across processes: a process that adds its batch sees the others'."""
    from inbox import throttling

    settings.WEBHOOK_RATE_LIMIT = "3200/m"
    monkeypatch.setattr(throttling, "_counts", throttling._Counts())
    window_index = int(throttling.time.time() // 60)
    _count_in_database("10.0.0.8", window_index, 3150)  # what the other processes admitted
    admitted = 0
    while throttling.over_limit("10.0.0.8") is None:
        admitted += 1
    # Its first batch (100) brought the count to 3250: the limit, and one batch past it at most.
    assert admitted == 99
    wait = throttling.over_limit("10.0.0.8")
    assert wait is not None and 1 <= wait <= 60
