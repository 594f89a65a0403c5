"""The django-q2 schedule that runs the monitor inside the worker.

django-q2 schedules count in whole minutes, so MONITORING_INTERVAL is rounded down to
minutes, and never below one: 300 s runs every 5 minutes, 90 s every minute, 30 s every
minute too. It is brought in step after every ``migrate`` and when a worker starts.
"""

from __future__ import annotations

from django.conf import settings

from tds_site.schedules import keep_schedule

SCHEDULE_NAME = "tds-monitor"
MONITOR_TASK = "alerts.monitor.run_scheduled"


def schedule_minutes() -> int:
    return max(1, settings.MONITORING_INTERVAL // 60)


def ensure_monitor_schedule() -> tuple[object, bool]:
    """Create the monitor's schedule, or bring its interval in line; returns (it, created)."""
    from django_q.models import Schedule

    wanted = {
        "func": MONITOR_TASK,
        "schedule_type": Schedule.MINUTES,
        "minutes": schedule_minutes(),
    }
    return keep_schedule(SCHEDULE_NAME, wanted)
