"""Deleting finished history older than the retention period, a batch at a time.

Each app purges its own tables: it registers a ``History`` (what of its table may go before
a cutoff) when it starts, and ``tds_purge`` runs them all in order. This app's own:
- finished entries completed before the inbox cutoff, with their (resolved) dead letters
  (finished: ``completed``, with no open dead letter);
- sync log rows written before the log cutoff, unless their entry is still in the queue
  and not finished (an open problem keeps its attempt history).
- effect ledger rows older than the ledger cutoff (a record's timeline outlives its events).
The inbox registers its events (``inbox.history``).

A cutoff of now (``--days 0``) takes all finished history. Never touched: pending,
processing, failed or dead-lettered entries and unresolved dead letters. Each batch is at
most ``batch_size`` ids read by key order from where the last one stopped, and is deleted
in its own transaction, so memory stays bounded and the workers are never blocked for long.
Rows that running totals count (``syncqueue.totals``) add what they counted in the
transaction that deletes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from syncqueue import totals
from syncqueue.models import DeadLetter, QueueEntry, RecordEffect, Status, SyncLog
from tds_site.schedules import keep_schedule

BATCH_SIZE = 5000

Progress = Callable[[str, int, int], None]  # (what, deleted so far, total)


def finished() -> Q:
    """A queue entry is finished: completed, with no dead letter still open."""
    open_dead_letter = DeadLetter.objects.filter(entry_id=OuterRef("pk"), resolved=False)
    return Q(status=Status.COMPLETED) & ~Q(Exists(open_dead_letter))


def purgeable_entries(cutoff: datetime) -> QuerySet[QueueEntry]:
    return QueueEntry.objects.filter(finished(), completed_at__lt=cutoff)


def purgeable_logs(cutoff: datetime) -> QuerySet[SyncLog]:
    unfinished = QueueEntry.objects.filter(~finished(), pk=OuterRef("entry_id"))
    return SyncLog.objects.filter(created_at__lt=cutoff).exclude(Exists(unfinished))


class Retention(Enum):
    """Which retention period a table keeps: the setting that says how many days."""

    INBOX = "INBOX_RETENTION_DAYS"
    LOGS = "LOG_RETENTION_DAYS"
    LEDGER = "LEDGER_RETENTION_DAYS"

    @property
    def days(self) -> int:
        return getattr(settings, self.value)


@dataclass(frozen=True)
class History:
    """A history table ``tds_purge`` thins out."""

    name: str  # plural, as the command reports it: "queue entries"
    order: int  # purged in this order: queue entries before the inbox events they free
    retention: Retention
    purgeable: Callable[[datetime], QuerySet]  # what may go, given the cutoff
    delete: Callable[[QuerySet, list[int]], int]  # one batch of ids, in a transaction


_HISTORIES: dict[str, History] = {}


def register(history: History) -> None:
    """Called by each app as it starts (``AppConfig.ready``); registering twice is harmless."""
    _HISTORIES[history.name] = history


def histories() -> list[History]:
    return sorted(_HISTORIES.values(), key=lambda history: history.order)


Cutoffs = dict[Retention, datetime]


def count_purgeable(cutoffs: Cutoffs) -> dict[str, int]:
    return {h.name: h.purgeable(cutoffs[h.retention]).count() for h in histories()}


def purge(
    cutoffs: Cutoffs, batch_size: int = BATCH_SIZE, progress: Progress | None = None
) -> dict[str, int]:
    """Delete what ``count_purgeable`` counts; returns what was deleted per table."""
    return {
        h.name: _in_batches(
            h.name, h.purgeable(cutoffs[h.retention]), h.delete, batch_size, progress
        )
        for h in histories()
    }


def _in_batches(
    what: str,
    candidates: QuerySet,
    delete: Callable[[QuerySet, list[int]], int],
    batch_size: int,
    progress: Progress | None,
) -> int:
    total = candidates.count()
    deleted = 0
    last_id = 0
    while True:
        ids = list(
            candidates.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        last_id = ids[-1]
        with transaction.atomic():
            # The conditions are checked again in the DELETE: a row that changed since it
            # was read is left alone.
            deleted += delete(candidates, ids)
        if progress:
            progress(what, deleted, total)
    return deleted


def delete_counted(candidates: QuerySet, ids: list[int]) -> int:
    """Delete rows nothing points at (inbox events, log rows), adding what they counted to
    the running totals."""
    # Locked first, so a purge running at the same time cannot count the same rows again.
    locked = list(candidates.filter(pk__in=ids).select_for_update().values_list("pk", flat=True))
    rows = candidates.model.objects.filter(pk__in=locked)
    totals.add_purged(rows)
    # Nothing points at these rows, so this is one DELETE statement.
    count, _ = rows.delete()
    return count


def _delete_entries(candidates: QuerySet, ids: list[int]) -> int:
    """Delete entries and their resolved dead letters with two plain DELETE statements.

    ``QuerySet.delete()`` would load every entry of the batch (payload included) to cascade
    to the dead letters; deleting those first and the entries by id avoids that.
    """
    batch = candidates.filter(pk__in=ids)
    DeadLetter.objects.filter(entry__in=batch.values("pk"), resolved=True).delete()
    # The ids of the batch that still qualify (completed is final, so this is the batch).
    keep = list(batch.values_list("pk", flat=True))
    if not keep:
        return 0
    table = connection.ops.quote_name(QueueEntry._meta.db_table)
    marks = ", ".join(["%s"] * len(keep))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({marks})", keep)
        return cursor.rowcount


def purgeable_effects(cutoff: datetime) -> QuerySet[RecordEffect]:
    return RecordEffect.objects.filter(applied_at__lt=cutoff)


def _delete_by_id(candidates: QuerySet, ids: list[int]) -> int:
    count, _ = candidates.filter(pk__in=ids).delete()
    return count


QUEUE_ENTRIES = History("queue entries", 10, Retention.INBOX, purgeable_entries, _delete_entries)
SYNC_LOGS = History("sync logs", 30, Retention.LOGS, purgeable_logs, delete_counted)
RECORD_EFFECTS = History("record effects", 40, Retention.LEDGER, purgeable_effects, _delete_by_id)


def retention_days(days: int | None = None) -> dict[Retention, int]:
    """``days`` for everything, or by default each table's retention setting."""
    return {retention: retention.days if days is None else days for retention in Retention}


def retention_cutoffs(now: datetime, days: int | None = None) -> Cutoffs:
    """The cutoffs for keeping ``days`` of everything, or by default each table's
    retention setting (INBOX_RETENTION_DAYS, LOG_RETENTION_DAYS, LEDGER_RETENTION_DAYS)."""
    return {
        retention: now - timedelta(days=kept) for retention, kept in retention_days(days).items()
    }


SCHEDULE_NAME = "tds-purge"


def scheduled_purge() -> str:
    """The worker's daily task: purge by the retention settings."""
    deleted = purge(retention_cutoffs(timezone.now()))
    return ", ".join(f"{count} {name}" for name, count in deleted.items()) + " deleted"


def ensure_purge_schedule() -> tuple[object, bool]:
    """Daily, like the nightly cron it replaces: an install purges without being told to."""
    from django_q.models import Schedule

    return keep_schedule(
        SCHEDULE_NAME, {"func": f"{__name__}.scheduled_purge", "schedule_type": Schedule.DAILY}
    )
