"""Figures about the pipeline, read from the database: one query each, no caching.

The monitor, ``/metrics`` and ``/dashboard/metrics`` all read the same functions, so the
numbers an alert quotes are the numbers the dashboards show.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, F, Min, Q, When
from django.utils import timezone

from syncqueue.models import DeadLetter, QueueEntry, Status, SyncLog

FAILED_OUTCOMES = ("failed", "dead_letter")
RATE_PLACES = Decimal("0.0001")


def queue_by_status() -> dict[str, int]:
    counts = dict.fromkeys(Status.values, 0)
    for row in QueueEntry.objects.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def pending_count() -> int:
    return QueueEntry.objects.filter(status=Status.PENDING).count()


def unresolved_dead_letters() -> int:
    return DeadLetter.objects.filter(resolved=False).count()


def failure_rate(now: datetime | None = None, window: timedelta = timedelta(hours=1)):
    """(rate, failed attempts, all attempts) over ``window``; the rate is 0 with no attempts."""
    since = (now or timezone.now()) - window
    totals = SyncLog.objects.filter(created_at__gte=since).aggregate(
        total=Count("id"), failed=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES))
    )
    total, failed = totals["total"], totals["failed"]
    rate = (Decimal(failed) / Decimal(total)).quantize(RATE_PLACES) if total else Decimal(0)
    return rate, failed, total


def stuck_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.STUCK_EVENT_SECONDS)


def stuck_count(now: datetime | None = None) -> int:
    """Entries in ``processing`` whose lease ran out or that have not moved for too long.

    A claim already takes such entries back; counting them tells operators that no worker is
    doing so, or that something dies while applying them.
    """
    now = now or timezone.now()
    return (
        QueueEntry.objects.filter(status=Status.PROCESSING)
        .filter(Q(locked_until__lt=now) | Q(updated_at__lt=stuck_cutoff(now)))
        .count()
    )


def oldest_pending_since() -> datetime | None:
    """When the longest-waiting pending entry started waiting.

    That is its arrival, except for an entry replayed from the dead-letter queue, which waits
    since its replay (its ``created_at`` may be days old).
    """
    waiting_since = Case(When(replayed=True, then=F("next_attempt_at")), default=F("created_at"))
    row = QueueEntry.objects.filter(status=Status.PENDING).aggregate(since=Min(waiting_since))
    return row["since"]


def oldest_pending_age(now: datetime | None = None) -> Decimal:
    """Seconds the oldest pending entry has waited (0 when nothing is pending)."""
    since = oldest_pending_since()
    if since is None:
        return Decimal(0)
    seconds = ((now or timezone.now()) - since).total_seconds()
    return max(Decimal(0), Decimal(str(round(seconds, 3))))


def applied_since(since: datetime) -> int:
    return SyncLog.objects.filter(created_at__gte=since, outcome="applied").count()


def latency_percentiles(
    percentiles: tuple[int, ...] = (50, 99),
    now: datetime | None = None,
    window: timedelta = timedelta(hours=1),
) -> dict[int, Decimal | None]:
    """Apply latency (ms, accepted to applied) percentiles over ``window``, nearest rank.

    Portable across SQLite and PostgreSQL: count, then read the rank-th value in order.
    """
    since = (now or timezone.now()) - window
    values = SyncLog.objects.filter(created_at__gte=since, latency_ms__isnull=False)
    total = values.count()
    result: dict[int, Decimal | None] = {}
    for p in percentiles:
        if not total:
            result[p] = None
            continue
        # Nearest rank: the smallest value with at least p% of the values at or below it.
        rank = max(1, -(-p * total // 100))
        result[p] = values.order_by("latency_ms").values_list("latency_ms", flat=True)[rank - 1]
    return result
