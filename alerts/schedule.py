"""The django-q2 schedule that runs the monitor inside the worker.

django-q2 schedules count in whole minutes, so MONITORING_INTERVAL is rounded down to
minutes, and never below one: 300 s runs every 5 minutes, 90 s every minute, 30 s every
minute too. ``ensure_schedule`` is idempotent; it runs after every ``migrate``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

SCHEDULE_NAME = "tds-monitor"
MONITOR_TASK = "alerts.monitor.run_scheduled"


def schedule_minutes() -> int:
    return max(1, settings.MONITORING_INTERVAL // 60)


def ensure_schedule() -> tuple[object, bool]:
    """Create the monitor's schedule, or bring its interval in line; returns (it, created)."""
    from django_q.models import Schedule

    minutes = schedule_minutes()
    schedule, created = Schedule.objects.get_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": MONITOR_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )
    if not created and (
        schedule.func != MONITOR_TASK
        or schedule.schedule_type != Schedule.MINUTES
        or schedule.minutes != minutes
        or schedule.repeats != -1
    ):
        schedule.func, schedule.schedule_type = MONITOR_TASK, Schedule.MINUTES
        schedule.minutes, schedule.repeats = minutes, -1
        schedule.save()
    return schedule, created
