"""Every figure about the pipeline, computed in one place.

The admin's front page, ``GET /dashboard/queue-stats``, ``GET /dashboard/metrics``,
``/metrics``, ``tds_stats`` and the monitor's conditions all read these functions, so an
alert quotes the number the dashboards show. Each figure is one query, whatever the size
of the tables; nothing is cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, F, Min, Q, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from syncqueue.heartbeat import live_workers
from syncqueue.models import (
    FAILED_OUTCOMES,
    SUCCEEDED,
    DeadLetter,
    Outcome,
    QueueEntry,
    RecordHold,
    Status,
    SyncLog,
)

HOUR = timedelta(hours=1)
RATE_PLACES = Decimal("0.0001")


def _zeroes() -> dict[str, int]:
    return dict.fromkeys(Status.values, 0)


def counts_by_status_and_entity() -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Entries per status, and per status for each entity: one GROUP BY (entity, status),
    served by the ``tds_queue_status_entity`` index."""
    by_status = _zeroes()
    by_entity: dict[str, dict[str, int]] = {}
    rows = QueueEntry.objects.order_by().values_list("entity", "status").annotate(n=Count("id"))
    for entity, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_entity.setdefault(entity, _zeroes())[status] = n
    return by_status, dict(sorted(by_entity.items()))


def pending_count() -> int:
    return QueueEntry.objects.filter(status=Status.PENDING).count()


def claimable_count(now: datetime) -> int:
    """Entries a worker could claim at ``now``, by the claim's own definition."""
    return QueueEntry.objects.claimable(now).count()


def unresolved_dead_letters() -> int:
    return DeadLetter.objects.filter(resolved=False).count()


def oldest_pending_since() -> datetime | None:
    """When the longest-waiting pending entry started waiting.

    That is its arrival, except for an entry replayed from the dead-letter queue, which waits
    since its replay (its ``created_at`` may be days old).
    """
    waiting_since = Case(When(replayed=True, then=F("next_attempt_at")), default=F("created_at"))
    row = QueueEntry.objects.filter(status=Status.PENDING).aggregate(since=Min(waiting_since))
    return row["since"]


def oldest_pending_age(now: datetime) -> Decimal | None:
    """Seconds the oldest pending entry has waited, to the millisecond; None when nothing
    is pending."""
    since = oldest_pending_since()
    if since is None:
        return None
    seconds = (now - since).total_seconds()
    return max(Decimal(0), Decimal(str(round(seconds, 3))))


def stuck_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.STUCK_EVENT_SECONDS)


def stuck_count(now: datetime) -> int:
    """Entries in ``processing`` whose lease ran out or that have not moved for too long.

    A claim already takes such entries back; counting them tells operators that no worker is
    doing so, or that something dies while applying them.
    """
    return (
        QueueEntry.objects.filter(status=Status.PROCESSING)
        .filter(Q(locked_until__lt=now) | Q(updated_at__lt=stuck_cutoff(now)))
        .count()
    )


@dataclass(frozen=True)
class QueueFigures:
    by_status: dict[str, int]
    by_entity: dict[str, dict[str, int]]
    claimable: int
    oldest_pending_age_seconds: Decimal | None
    stuck: int
    dead_letters_unresolved: int
    workers_live: int
    held_records: int


def queue_figures(now: datetime | None = None) -> QueueFigures:
    """The queue as every surface shows it."""
    now = now or timezone.now()
    by_status, by_entity = counts_by_status_and_entity()
    return QueueFigures(
        by_status=by_status,
        by_entity=by_entity,
        claimable=claimable_count(now),
        oldest_pending_age_seconds=oldest_pending_age(now),
        stuck=stuck_count(now),
        dead_letters_unresolved=unresolved_dead_letters(),
        workers_live=len(live_workers()),
        held_records=RecordHold.objects.count(),
    )


@dataclass(frozen=True)
class FailureRate:
    rate: Decimal  # 0 with no attempts
    failed: int
    attempts: int


def failure_rate(now: datetime, window: timedelta = HOUR) -> FailureRate:
    """Failed or dead-lettered attempts over all attempts in the ``window`` before ``now``."""
    totals = SyncLog.objects.filter(created_at__gte=now - window).aggregate(
        total=Count("id"), failed=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES))
    )
    total, failed = totals["total"], totals["failed"]
    rate = (Decimal(failed) / Decimal(total)).quantize(RATE_PLACES) if total else Decimal(0)
    return FailureRate(rate, failed, total)


def applied_since(since: datetime) -> int:
    return SyncLog.objects.filter(created_at__gte=since, outcome=Outcome.APPLIED).count()


@dataclass(frozen=True)
class Latency:
    samples: int
    percentiles: dict[int, Decimal | None]  # ms, None without samples


def latency(
    now: datetime, percentiles: tuple[int, ...] = (50, 99), window: timedelta = HOUR
) -> Latency:
    """Apply latency (ms, accepted to applied) percentiles over ``window``, nearest rank.

    Portable across SQLite and PostgreSQL: count, then read the rank-th value in order.
    """
    values = SyncLog.objects.filter(created_at__gte=now - window, latency_ms__isnull=False)
    total = values.count()
    result: dict[int, Decimal | None] = {}
    for p in percentiles:
        if not total:
            result[p] = None
            continue
        # Nearest rank: the smallest value with at least p% of the values at or below it.
        rank = max(1, -(-p * total // 100))
        result[p] = values.order_by("latency_ms").values_list("latency_ms", flat=True)[rank - 1]
    return Latency(total, result)


@dataclass(frozen=True)
class HourBucket:
    start: datetime
    applied: int  # applied or skipped as stale
    failed: int  # failed or dead-lettered


def hourly_outcomes(hours: int = 24, now: datetime | None = None) -> list[HourBucket]:
    """Attempts that succeeded and that failed, per hour, oldest hour first.

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
            applied=Count("id", filter=Q(outcome__in=SUCCEEDED)),
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


@dataclass(frozen=True)
class OtherFigure:
    """A figure another app owns (reconciliation's API budget), which the queue cannot
    import; the app registers it from ``AppConfig.ready`` and ``tds_stats`` shows it."""

    name: str
    read: Callable[[], dict[str, Any]]  # the figure, JSON-ready
    line: Callable[[dict[str, Any]], str]  # the figure as one line of text


_OTHER_FIGURES: dict[str, OtherFigure] = {}


def register(figure: OtherFigure) -> None:
    """Called by each app as it starts; registering twice is harmless."""
    _OTHER_FIGURES[figure.name] = figure


def other_figures() -> list[OtherFigure]:
    return sorted(_OTHER_FIGURES.values(), key=lambda figure: figure.name)
