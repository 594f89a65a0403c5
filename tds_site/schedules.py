"""The worker's django-q2 schedules, kept in step with the settings after every ``migrate``.

Each app that runs something on a schedule (the monitor, reconciliation) says what its
schedule should be in one function that returns the wanted fields, or None for no schedule;
``keep_schedule`` makes the stored row match, and ``keep_in_step_after_migrate`` runs it
when ``migrate`` ends (django_q's tables exist by then, and deploys already run it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate
from django.utils import timezone

logger = logging.getLogger("tds.schedules")


def keep_schedule(
    name: str, wanted: dict[str, Any] | None, using: str = DEFAULT_DB_ALIAS
) -> tuple[Any, bool]:
    """Create, update or (``wanted`` None) delete the schedule ``name``; returns (it, created).

    Idempotent, and an existing schedule keeps its next run, so a ``migrate`` does not
    postpone it.
    """
    from django_q.models import Schedule

    schedules = Schedule.objects.using(using)
    if wanted is None:
        schedules.filter(name=name).delete()
        return None, False
    schedule, created = schedules.get_or_create(
        name=name, defaults={**wanted, "repeats": -1, "next_run": timezone.now()}
    )
    changed = {key: value for key, value in wanted.items() if getattr(schedule, key) != value}
    if changed or schedule.repeats != -1:
        for key, value in changed.items():
            setattr(schedule, key, value)
        schedule.repeats = -1
        schedule.save(using=using)
    if created:
        logger.info("schedule %s created", name)
    return schedule, created


def keep_in_step_after_migrate(app: AppConfig, ensure: Callable[[], object]) -> None:
    """Run ``ensure`` (which calls ``keep_schedule``) after each full ``migrate``."""

    def after_migrate(sender: AppConfig, using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
        if using != DEFAULT_DB_ALIAS:
            return
        # A partial migrate (``migrate alerts``) may leave django_q's tables for later.
        if "django_q_schedule" not in connections[using].introspection.table_names():
            return
        ensure()

    # Sent once per app after the whole migrate has run, so every table is there.
    post_migrate.connect(
        after_migrate, sender=app, weak=False, dispatch_uid=f"tds-schedule-{app.label}"
    )
