"""Worker liveness, written by ``qcluster`` and read by /health and the monitor."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from syncqueue.models import WorkerHeartbeat


def beat(name: str, started_at: datetime) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": started_at,
            "last_beat_at": now,
        },
    )


def stale_after() -> timedelta:
    """A worker that has not beaten for three poll intervals (at least 30 s) is down."""
    return timedelta(seconds=max(30.0, settings.WORKER_POLL_INTERVAL * 3))


def live_workers() -> list[WorkerHeartbeat]:
    since = timezone.now() - stale_after()
    return list(WorkerHeartbeat.objects.filter(last_beat_at__gte=since).order_by("name"))


def last_beat() -> datetime | None:
    latest = WorkerHeartbeat.objects.order_by("-last_beat_at").first()
    return latest.last_beat_at if latest else None
