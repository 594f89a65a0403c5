"""The monitored conditions: each reads the figures (``syncqueue.stats``) and says how bad
things are.

A check never writes; it returns a ``Reading`` whose ``severity`` is None when the condition
is clear. Thresholds are exceeded, not reached: "pending > 1000" is critical, 1000 is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from alerts.models import Code, Severity
from syncqueue import stats
from syncqueue.heartbeat import LostHost, lost_hosts, stale_after
from syncqueue.holds import AUTO_HOLD_ACTOR
from syncqueue.models import QueueEntry, RecordHold, WorkerHeartbeat


@dataclass(frozen=True)
class Reading:
    code: str
    severity: str | None  # None: the condition is clear
    value: Decimal
    threshold: Decimal  # for the severity reached, else the warning threshold
    message: str


def _grade(
    code: str, value: Decimal, warning: Decimal, critical: Decimal, describe: Callable
) -> Reading:
    if value > critical:
        severity, threshold = Severity.CRITICAL, critical
    elif value > warning:
        severity, threshold = Severity.WARNING, warning
    else:
        severity, threshold = None, warning
    return Reading(code, severity, value, threshold, describe(value, threshold))


def check_queue_backlog(now: datetime) -> Reading:
    return _grade(
        Code.QUEUE_BACKLOG,
        Decimal(stats.pending_count()),
        Decimal(settings.ALERT_PENDING_WARNING),
        Decimal(settings.ALERT_PENDING_CRITICAL),
        lambda v, t: f"{v} queue entries pending (threshold {t})",
    )


def check_dead_letters(now: datetime) -> Reading:
    return _grade(
        Code.DEAD_LETTERS,
        Decimal(stats.unresolved_dead_letters()),
        Decimal(settings.ALERT_DLQ_WARNING),
        Decimal(settings.ALERT_DLQ_CRITICAL),
        lambda v, t: f"{v} unresolved dead letters (threshold {t})",
    )


def check_failure_rate(now: datetime) -> Reading:
    failures = stats.failure_rate(now)
    return _grade(
        Code.FAILURE_RATE,
        failures.rate,
        Decimal(settings.ALERT_FAILURE_RATE_WARNING),
        Decimal(settings.ALERT_FAILURE_RATE_CRITICAL),
        lambda v, t: (
            f"{_percent(v)} of attempts failed in the last hour "
            f"({failures.failed} of {failures.attempts}; "
            f"threshold {_percent(t)})"
        ),
    )


def check_stuck_events(now: datetime) -> Reading:
    count = stats.stuck_count(now)
    minutes = Decimal(str(settings.STUCK_EVENT_SECONDS)) / 60
    message = (
        f"{count} queue entries stuck in processing for more than {minutes.normalize()} min"
        if count
        else "no entry is stuck in processing"
    )
    # Any stuck entry is critical: it means events are not reaching the ERP.
    severity = Severity.CRITICAL if count else None
    return Reading(Code.STUCK_EVENTS, severity, Decimal(count), Decimal(0), message)


def check_oldest_pending(now: datetime) -> Reading:
    return _grade(
        Code.OLDEST_PENDING,
        (stats.oldest_pending_age(now) or Decimal(0)).quantize(Decimal(1)),
        Decimal(settings.ALERT_OLDEST_PENDING_WARNING_SECONDS),
        Decimal(settings.ALERT_OLDEST_PENDING_CRITICAL_SECONDS),
        lambda v, t: f"the oldest pending entry has waited {v} s (threshold {t} s)",
    )


def check_worker_down(now: datetime) -> Reading:
    """Critical when no worker has beaten lately (if one ever ran or work is waiting), or
    when a host's workers went silent without a graceful stop while others still beat.

    A fresh installation with an empty queue and no worker yet is not an incident.
    """
    window = stale_after()
    threshold = Decimal(int(window.total_seconds()))
    lost = lost_hosts(now)
    latest = WorkerHeartbeat.objects.order_by("-last_beat_at").first()
    if latest and latest.last_beat_at >= now - window:
        if not lost:
            age = Decimal(int((now - latest.last_beat_at).total_seconds()))
            return Reading(Code.WORKER_DOWN, None, age, threshold, "a worker is beating")
        age = Decimal(int((now - lost[0].last_beat_at).total_seconds()))
        message = f"worker host {_silent(lost, now)}; other hosts' workers are beating"
        return Reading(Code.WORKER_DOWN, Severity.CRITICAL, age, threshold, message)
    waiting = QueueEntry.objects.unfinished().count()
    if latest:
        age = Decimal(int((now - latest.last_beat_at).total_seconds()))
        message = (
            f"no worker has beaten for {age} s (last: {latest.name} at "
            f"{latest.last_beat_at.isoformat(timespec='seconds')}); {waiting} entries waiting"
        )
        if lost:
            message += f"; lost: {_silent(lost, now)}"
        return Reading(Code.WORKER_DOWN, Severity.CRITICAL, age, threshold, message)
    if waiting:
        message = f"no worker has ever started and {waiting} entries are waiting"
        return Reading(Code.WORKER_DOWN, Severity.CRITICAL, Decimal(0), threshold, message)
    return Reading(Code.WORKER_DOWN, None, Decimal(0), threshold, "no worker yet, no work")


def _silent(lost: list[LostHost], now: datetime) -> str:
    return ", ".join(
        f"{host.host} silent for {int((now - host.last_beat_at).total_seconds())} s"
        for host in lost
    )


def check_records_held(now: datetime) -> Reading:
    """A warning naming the records held automatically (their events kept dead-lettering);
    holds an operator placed on purpose are not an incident."""
    held = list(
        RecordHold.objects.filter(held_by=AUTO_HOLD_ACTOR)
        .order_by("held_at")
        .values_list("entity", "record_id")
    )
    if not held:
        return Reading(Code.RECORDS_HELD, None, Decimal(0), Decimal(0), "no record held")
    names = ", ".join(f"{entity} {record_id}" for entity, record_id in held[:10])
    more = f" and {len(held) - 10} more" if len(held) > 10 else ""
    message = (
        f"held after repeated dead letters, their events waiting: {names}{more} "
        "(release in the admin's held records, or POST /dashboard/records/…/release)"
    )
    return Reading(Code.RECORDS_HELD, Severity.WARNING, Decimal(len(held)), Decimal(0), message)


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01')).normalize():f}%"


CONDITIONS: tuple[Callable[[datetime], Reading], ...] = (
    check_queue_backlog,
    check_dead_letters,
    check_failure_rate,
    check_stuck_events,
    check_oldest_pending,
    check_worker_down,
    check_records_held,
)


def condition_code(check: Callable[[datetime], Reading]) -> str:
    """The alert code a condition reads: ``check_worker_down`` -> ``worker_down``."""
    return check.__name__.removeprefix("check_")
