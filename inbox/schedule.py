"""The worker's reconciliation schedule, kept in step with the credentials at `migrate`."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger("tds.reconcile")

SCHEDULE_NAME = "tds_reconcile"
TASK = "inbox.reconcile.scheduled_reconcile"


def register_reconcile_schedule(using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    """Hourly reconciliation when the Zoho credentials are set; no schedule otherwise.

    Idempotent. Without credentials an existing schedule is removed, since every run would
    only report that reconciliation is off.
    """
    from django_q.models import Schedule

    from inbox.reconcile import RECONCILE_TASK_SECONDS
    from inbox.zoho_api import missing_credentials

    schedules = Schedule.objects.using(using)
    if missing_credentials():
        schedules.filter(name=SCHEDULE_NAME).delete()
        return
    _, created = schedules.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": TASK,
            "schedule_type": Schedule.HOURLY,
            # Longer than the drain tasks' Q_CLUSTER timeout: a first run may page a lot.
            "kwargs": f"{{'q_options': {{'timeout': {RECONCILE_TASK_SECONDS}}}}}",
            "repeats": -1,
        },
    )
    if created:
        logger.info("reconciliation scheduled hourly")
