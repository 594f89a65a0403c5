"""tds_replay, tds_purge and tds_stats: what they change, what they print, how they refuse."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from inbox.models import InboxEvent
from syncqueue.models import DeadLetter, QueueEntry, RecordEffect, Status, SyncLog
from syncqueue.stats import queue_figures
from tests.factories import (
    DeadLetterFactory,
    InboxEventFactory,
    QueueEntryFactory,
    RecordEffectFactory,
    SyncLogFactory,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- tds_replay -------------------------------------------------------------------------


@pytest.fixture
def dead_letters():
    return {
        "p1": DeadLetterFactory(record_id="p1"),
        "p2": DeadLetterFactory(record_id="p2"),
        "i1": DeadLetterFactory(entity="invoices", record_id="i1"),
        "done": DeadLetterFactory(record_id="done", resolved=True),
    }


def _replayed() -> set[str]:
    return set(DeadLetter.objects.filter(replay_count__gt=0).values_list("record_id", flat=True))


def _pending() -> set[str]:
    return set(QueueEntry.objects.filter(status=Status.PENDING).values_list("record_id", flat=True))


def test_replay_by_id_repeatable(dead_letters):
    p1, i1 = dead_letters["p1"], dead_letters["i1"]
    out = run("tds_replay", "--id", str(p1.pk), "--id", str(i1.pk))
    assert "replayed 2 dead letter(s)" in out
    assert _replayed() == {"p1", "i1"} == _pending()
    assert DeadLetter.objects.get(pk=p1.pk).replayed_by.startswith("cli")


def test_replay_by_entity(dead_letters):
    out = run("tds_replay", "--entity", "products")
    assert "replayed 2 dead letter(s), 1 already resolved (skipped)" in out
    assert _replayed() == {"p1", "p2"} == _pending()


def test_replay_all(dead_letters):
    out = run("tds_replay", "--all")
    assert "replayed 3 dead letter(s)" in out
    assert _replayed() == {"p1", "p2", "i1"} == _pending()
    assert DeadLetter.objects.get(record_id="done").replay_count == 0


@pytest.mark.parametrize(
    ("args", "listed"),
    [
        (("--all",), {"p1", "p2", "i1"}),
        (("--entity", "invoices"), {"i1"}),
        (("--id", "ID:p2"), {"p2"}),
    ],
)
def test_replay_dry_run_lists_and_changes_nothing(dead_letters, args, listed):
    args = tuple(str(dead_letters[a[3:]].pk) if a.startswith("ID:") else a for a in args)
    out = run("tds_replay", *args, "--dry-run")
    shown = {line.split()[4] for line in out.splitlines() if line.startswith("would replay")}
    assert shown == listed
    assert f"dry run: {len(listed)} dead letter(s) would be replayed" in out
    assert _replayed() == set() and _pending() == set()


def test_the_effect_ledger_outlives_the_queue_for_its_own_retention(settings):
    settings.INBOX_RETENTION_DAYS = 7
    settings.LEDGER_RETENTION_DAYS = 365
    _history(old_days=30)
    now = timezone.now()
    kept = RecordEffectFactory(applied_at=now - timedelta(days=30))
    RecordEffectFactory(applied_at=now - timedelta(days=366))
    out = run("tds_purge")
    assert "record effects since" in out and "(365 days)" in out
    assert "deleted 2 queue entries, 2 inbox events, 0 sync logs, 1 record effects" in out
    assert list(RecordEffect.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((), "selector"),
        (("--all", "--entity", "products"), "selector"),
        (("--id", "1", "--all"), "selector"),
        (("--id", "abc"), "--id"),
        (("--id", "0"), "--id"),
        (("--id", "999999"), "--id"),
        (("--entity", "widgets"), "--entity"),
    ],
)
def test_replay_bad_arguments_name_the_argument(dead_letters, args, named):
    with pytest.raises(CommandError) as raised:
        call_command("tds_replay", *args, stdout=StringIO())
    assert str(raised.value).startswith(f"{named}:")
    assert _replayed() == set()


# --- tds_purge ------------------------------------------------------------------------------


def _history(old_days: int = 30) -> dict[str, object]:
    """Old and new rows of every kind; returns the ones a test looks at."""
    old = timezone.now() - timedelta(days=old_days)
    rows: dict[str, object] = {}
    for status in Status.values:
        event = InboxEventFactory(record_id=f"old-{status}", received_at=old)
        entry = QueueEntryFactory(status=status, event=event, created_at=old)
        if status == Status.COMPLETED:
            QueueEntry.objects.filter(pk=entry.pk).update(completed_at=old)
        SyncLogFactory(entry=entry, outcome="failed", created_at=old)
        rows[f"event-{status}"], rows[f"entry-{status}"] = event, entry
    # A completed entry whose dead letter was resolved when its replay applied: goes.
    replayed = DeadLetterFactory(record_id="replayed", resolved=True)
    QueueEntry.objects.filter(pk=replayed.entry_id).update(
        status=Status.COMPLETED, completed_at=old
    )
    rows["replayed"] = replayed
    # A completed entry with a dead letter still open (should not happen; never purged, nor
    # its inbox event or attempt history).
    odd = DeadLetterFactory(record_id="odd")
    odd_event = InboxEventFactory(record_id="odd", received_at=old)
    QueueEntry.objects.filter(pk=odd.entry_id).update(
        status=Status.COMPLETED, completed_at=old, inbox_event_id=odd_event.pk
    )
    SyncLogFactory(entry=odd.entry, outcome="dead_letter", created_at=old)
    rows["odd"], rows["odd-event"] = odd, odd_event
    rows["rejected"] = InboxEventFactory(rejected=True, received_at=old)
    fresh_event = InboxEventFactory(record_id="fresh")
    fresh = QueueEntryFactory(completed=True, event=fresh_event)
    SyncLogFactory(entry=fresh, outcome="applied")
    rows["fresh"], rows["fresh-event"] = fresh, fresh_event
    return rows


def _ids(model) -> set[int]:
    return set(model.objects.values_list("pk", flat=True))


def test_purge_dry_run_counts_and_deletes_nothing():
    _history()
    before = (_ids(QueueEntry), _ids(InboxEvent), _ids(SyncLog), _ids(DeadLetter))
    out = run("tds_purge", "--days", "7", "--dry-run")
    assert "dry run: would delete 2 queue entries, 2 inbox events, 1 sync logs" in out
    assert before == (_ids(QueueEntry), _ids(InboxEvent), _ids(SyncLog), _ids(DeadLetter))


def test_purge_deletes_finished_history_only():
    rows = _history()
    out = run("tds_purge", "--days", "7", "--batch-size", "1")
    assert "deleted 2 queue entries, 2 inbox events, 1 sync logs, 0 record effects" in out
    assert "  queue entries: 1/2" in out and "  queue entries: 2/2" in out  # batch by batch

    kept_entries = {QueueEntry.objects.get(pk=e.pk).status for e in QueueEntry.objects.all()}
    assert kept_entries == {"pending", "processing", "failed", "dead_letter", "completed"}
    assert not QueueEntry.objects.filter(pk=rows["entry-completed"].pk).exists()
    assert not QueueEntry.objects.filter(pk=rows["replayed"].entry_id).exists()
    assert not DeadLetter.objects.filter(pk=rows["replayed"].pk).exists()
    assert DeadLetter.objects.filter(pk=rows["odd"].pk).exists()  # open: kept with its entry
    assert InboxEvent.objects.filter(pk=rows["odd-event"].pk).exists()
    assert SyncLog.objects.filter(entry_id=rows["odd"].entry_id).exists()
    assert QueueEntry.objects.filter(pk=rows["fresh"].pk).exists()

    assert not InboxEvent.objects.filter(pk=rows["event-completed"].pk).exists()
    assert not InboxEvent.objects.filter(pk=rows["rejected"].pk).exists()
    for status in ("pending", "processing", "failed", "dead_letter"):
        assert InboxEvent.objects.filter(pk=rows[f"event-{status}"].pk).exists(), status
        assert QueueEntry.objects.filter(pk=rows[f"entry-{status}"].pk).exists(), status
        assert SyncLog.objects.filter(entry_id=rows[f"entry-{status}"].pk).exists(), status
    assert InboxEvent.objects.filter(pk=rows["fresh-event"].pk).exists()
    assert not SyncLog.objects.filter(entry_id=rows["entry-completed"].pk).exists()
    assert SyncLog.objects.filter(entry_id=rows["fresh"].pk).exists()

    again = run("tds_purge", "--days", "7")
    assert "deleted 0 queue entries, 0 inbox events, 0 sync logs" in again


def test_purge_days_zero_takes_all_finished_history_and_nothing_else():
    _history()
    out = run("tds_purge", "--days", "0")
    assert "(0 days)" in out
    assert "deleted 3 queue entries, 3 inbox events, 2 sync logs" in out  # the fresh ones too

    unfinished = {"old-pending", "old-processing", "old-failed", "old-dead_letter", "odd"}
    assert set(QueueEntry.objects.values_list("record_id", flat=True)) == unfinished
    assert set(InboxEvent.objects.values_list("record_id", flat=True)) == unfinished
    assert set(SyncLog.objects.values_list("record_id", flat=True)) == unfinished
    assert set(DeadLetter.objects.values_list("record_id", flat=True)) == {"odd"}


def test_purge_defaults_come_from_the_retention_settings(settings):
    settings.INBOX_RETENTION_DAYS = 7
    settings.LOG_RETENTION_DAYS = 90
    _history(old_days=30)  # older than the inbox retention, younger than the logs'
    out = run("tds_purge")
    assert "(7 days)" in out and "(90 days)" in out
    assert "deleted 2 queue entries, 2 inbox events, 0 sync logs" in out
    settings.LOG_RETENTION_DAYS = 20
    assert "deleted 0 queue entries, 0 inbox events, 1 sync logs" in run("tds_purge")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--days", "-1"), "--days"),
        (("--days", "-3"), "--days"),
        (("--days", "ten"), "--days"),
        (("--batch-size", "0"), "--batch-size"),
    ],
)
def test_purge_bad_arguments_name_the_argument(args, named):
    _history()
    with pytest.raises(CommandError) as raised:
        call_command("tds_purge", *args, stdout=StringIO())
    assert str(raised.value).startswith(f"{named}:")
    assert QueueEntry.objects.filter(status=Status.COMPLETED).count() == 4


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["tds_replay"], "selector"),
        (["tds_replay", "--id", "x1"], "--id"),
        (["tds_purge", "--days", "soon"], "--days"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(command, named, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3"}
    done = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], done.stderr


def test_purge_at_scale_in_batches(capsys):
    """100,000 finished entries (with their events and logs) on PostgreSQL; fewer on SQLite."""
    n = 100_000 if connection.vendor == "postgresql" else 5_000
    old = timezone.now() - timedelta(days=30)
    # Rows made in bulk, not one by one through tests.factories: there are 3n of them.
    item = {"name": "LED Panel Light 60x60 48W", "sku": "LP-6060-48W", "rate": 18500}
    events = InboxEvent.objects.bulk_create(
        (
            InboxEvent(
                entity="products",
                record_id=str(i),
                operation="update",
                content_hash=f"{i:064d}",
                method="POST",
                path="/webhooks/zoho/products/",
                raw_body=b'{"item": {"item_id": "%d"}}' % i,
                auth_method="signature",
                received_at=old,
            )
            for i in range(n)
        ),
        batch_size=1000,
    )
    entries = QueueEntry.objects.bulk_create(
        (
            QueueEntry(
                inbox_event_id=event.pk,
                entity="products",
                record_id=event.record_id,
                operation="update",
                payload={"item_id": event.record_id, **item},
                status=Status.COMPLETED,
                outcome="applied",
                attempts=1,
                created_at=old,
                completed_at=old,
            )
            for event in events
        ),
        batch_size=1000,
    )
    SyncLog.objects.bulk_create(
        (
            SyncLog(
                entry_id=entry.pk,
                entity="products",
                record_id=entry.record_id,
                operation="update",
                attempt=1,
                outcome="applied",
                duration_ms=Decimal("1.000"),
                worker="bulk",
                created_at=old,
            )
            for entry in entries
        ),
        batch_size=1000,
    )
    keep = QueueEntryFactory(failed=True, record_id="keep", created_at=old)

    started = time.monotonic()
    dry = run("tds_purge", "--days", "7", "--dry-run")
    dry_seconds = time.monotonic() - started
    assert f"would delete {n} queue entries, {n} inbox events, {n} sync logs" in dry
    assert QueueEntry.objects.count() == n + 1

    started = time.monotonic()
    out = run("tds_purge", "--days", "7")
    seconds = time.monotonic() - started
    assert f"deleted {n} queue entries, {n} inbox events, {n} sync logs" in out
    assert f"  queue entries: 5000/{n}" in out  # 5,000 ids per DELETE
    assert list(QueueEntry.objects.values_list("pk", flat=True)) == [keep.pk]
    assert InboxEvent.objects.count() == 0 and SyncLog.objects.count() == 0
    with capsys.disabled():
        print(
            f"\n[tds_purge on {connection.vendor}] {n} rows per table: "
            f"dry run {dry_seconds:.2f}s, purge {seconds:.2f}s"
        )


# --- tds_stats ------------------------------------------------------------------------------


def test_stats_prints_the_same_figures_as_the_api():
    QueueEntryFactory(created_at=timezone.now() - timedelta(seconds=120))
    QueueEntryFactory(failed=True, entity="invoices", record_id="2")
    DeadLetterFactory(entity="invoices", record_id="3")
    table = run("tds_stats")
    lines = table.splitlines()
    assert lines[0].split() == [
        "entity",
        "pending",
        "processing",
        "completed",
        "failed",
        "dead_letter",
    ]
    assert lines[2].split() == ["invoices", "0", "0", "0", "1", "1"]
    assert lines[3].split() == ["products", "1", "0", "0", "0", "0"]
    assert lines[4].split() == ["all", "1", "0", "0", "1", "1"]
    assert lines[5] == "claimable now: 2"
    assert lines[6].startswith("oldest pending: 12")
    as_json = json.loads(run("tds_stats", "--json"))
    expected = queue_figures()
    assert as_json["by_status"] == expected.by_status
    assert as_json["by_entity"] == expected.by_entity
    assert as_json["claimable"] == expected.claimable == 2


def test_the_worker_purges_daily_by_the_retention_settings():
    from django_q.models import Schedule

    from syncqueue.purge import SCHEDULE_NAME, scheduled_purge

    # post_migrate installed it when the test database was created.
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == (
        "syncqueue.purge.scheduled_purge",
        Schedule.DAILY,
    )
    from syncqueue.models import NewEvent, QueueEntry, Status

    long_ago = timezone.now() - timedelta(days=30)
    QueueEntry.objects.enqueue([NewEvent("products", "P1", "update", {"item_id": "P1"})])
    QueueEntry.objects.update(status=Status.COMPLETED, completed_at=long_ago)
    assert scheduled_purge() == (
        "1 queue entries, 0 inbox events, 0 sync logs, 0 record effects deleted"
    )
    assert not QueueEntry.objects.exists()
