"""Queue figures for operators: one computation behind the API, the admin and ``tds_stats``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from syncqueue.models import QueueEntry, Status, SyncLog

APPLIED_OUTCOMES = ("applied", "stale")
FAILED_OUTCOMES = ("failed", "dead_letter")


def _zeroes() -> dict[str, int]:
    return {status: 0 for status in Status.values}


def queue_stats(now: datetime | None = None) -> dict:
    """Counts by status and by entity, how many entries a worker could claim now, and the
    age of the oldest pending entry.

    Three queries whatever the queue size: one GROUP BY (entity, status), served by the
    ``tds_queue_status_entity`` index, a count by the claim's own definition, and one MIN
    over the pending entries.
    """
    now = now or timezone.now()
    by_status = _zeroes()
    by_entity: dict[str, dict[str, int]] = {}
    rows = QueueEntry.objects.order_by().values_list("entity", "status").annotate(n=Count("id"))
    for entity, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_entity.setdefault(entity, _zeroes())[status] = n
    oldest = QueueEntry.objects.filter(status=Status.PENDING).aggregate(at=Min("created_at"))["at"]
    return {
        "by_status": by_status,
        "by_entity": dict(sorted(by_entity.items())),
        "claimable": QueueEntry.objects.claimable(now).count(),
        "oldest_pending_age_seconds": (
            max((now - oldest).total_seconds(), 0.0) if oldest is not None else None
        ),
    }


@dataclass(frozen=True)
class HourBucket:
    start: datetime
    applied: int
    failed: int


def hourly_outcomes(hours: int = 24, now: datetime | None = None) -> list[HourBucket]:
    """Attempts that applied (or were stale) and that failed, per hour, oldest hour first.

    One query over the sync log; hours without attempts are filled in as zero.
    """
    now = now or timezone.now()
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours - 1)
    rows = (
        SyncLog.objects.filter(created_at__gte=first)
        .annotate(hour=TruncHour("created_at"))
        .order_by()
        .values("hour")
        .annotate(
            applied=Count("id", filter=Q(outcome__in=APPLIED_OUTCOMES)),
            failed=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)),
        )
    )
    found = {row["hour"]: row for row in rows}
    buckets = []
    for i in range(hours):
        start = first + timedelta(hours=i)
        row = found.get(start, {})
        buckets.append(HourBucket(start, row.get("applied", 0), row.get("failed", 0)))
    return buckets
