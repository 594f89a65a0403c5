"""Deleting finished history older than the retention period, a batch at a time.

A queue entry is finished when it is ``completed`` and has no open dead letter. What goes:
- finished entries completed before the cutoff, with their (resolved) dead letters;
- inbox events received before the cutoff whose queue entry is finished or gone, and
  rejected events (they never had one);
- sync log rows written before the log cutoff, unless their entry is still in the queue
  and not finished (an open problem keeps its attempt history).

A cutoff of now (``--days 0``) takes all finished history.

Never touched: pending, processing, failed or dead-lettered entries, unresolved dead letters,
and inbox events of unfinished entries. Each batch is at most ``batch_size`` ids read by key
order from where the last one stopped, and is deleted in its own transaction, so memory stays
bounded and the workers are never blocked for long. Log rows and inbox events add what they
counted to the running totals (``syncqueue.totals``) in the transaction that deletes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from inbox.models import InboxEvent
from syncqueue import totals
from syncqueue.models import DeadLetter, QueueEntry, Status, SyncLog

BATCH_SIZE = 5000

Progress = Callable[[str, int, int], None]  # (what, deleted so far, total)


def finished() -> Q:
    """A queue entry is finished: completed, with no dead letter still open."""
    open_dead_letter = DeadLetter.objects.filter(entry_id=OuterRef("pk"), resolved=False)
    return Q(status=Status.COMPLETED) & ~Q(Exists(open_dead_letter))


def purgeable_entries(cutoff: datetime) -> QuerySet[QueueEntry]:
    return QueueEntry.objects.filter(finished(), completed_at__lt=cutoff)


def purgeable_inbox_events(cutoff: datetime) -> QuerySet[InboxEvent]:
    unfinished = QueueEntry.objects.filter(~finished(), inbox_event_id=OuterRef("pk"))
    return InboxEvent.objects.filter(received_at__lt=cutoff).exclude(Exists(unfinished))


def purgeable_logs(cutoff: datetime) -> QuerySet[SyncLog]:
    unfinished = QueueEntry.objects.filter(~finished(), pk=OuterRef("entry_id"))
    return SyncLog.objects.filter(created_at__lt=cutoff).exclude(Exists(unfinished))


@dataclass(frozen=True)
class PurgeCounts:
    queue_entries: int
    inbox_events: int
    sync_logs: int


def count_purgeable(inbox_cutoff: datetime, log_cutoff: datetime) -> PurgeCounts:
    return PurgeCounts(
        queue_entries=purgeable_entries(inbox_cutoff).count(),
        inbox_events=purgeable_inbox_events(inbox_cutoff).count(),
        sync_logs=purgeable_logs(log_cutoff).count(),
    )


def purge(
    inbox_cutoff: datetime,
    log_cutoff: datetime,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> PurgeCounts:
    """Delete what ``count_purgeable`` counts; returns what was deleted per table."""
    return PurgeCounts(
        queue_entries=_in_batches(
            "queue entries", purgeable_entries(inbox_cutoff), _delete_entries, batch_size, progress
        ),
        inbox_events=_in_batches(
            "inbox events",
            purgeable_inbox_events(inbox_cutoff),
            _delete_counted,
            batch_size,
            progress,
        ),
        sync_logs=_in_batches(
            "sync logs", purgeable_logs(log_cutoff), _delete_counted, batch_size, progress
        ),
    )


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


def _delete_counted(candidates: QuerySet, ids: list[int]) -> int:
    """Delete inbox events or log rows, adding what they counted to the running totals."""
    # Locked first, so a purge running at the same time cannot count the same rows again.
    locked = list(candidates.filter(pk__in=ids).select_for_update().values_list("pk", flat=True))
    rows = candidates.model.objects.filter(pk__in=locked)
    totals.add_purged(rows)
    # No other model points at inbox events or log rows, so this is one DELETE statement.
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
