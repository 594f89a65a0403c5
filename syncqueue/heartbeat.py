"""Worker liveness, written by ``qcluster`` and read by /health and the monitor."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
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
            "stopped_at": None,
        },
    )


def sign_off(name: str) -> None:
    """A graceful stop: this worker's silence from now on is not an outage."""
    WorkerHeartbeat.objects.filter(name=name).update(stopped_at=timezone.now())


def stale_after() -> timedelta:
    """A worker that has not beaten for three poll intervals (at least 30 s) is down."""
    return timedelta(seconds=max(30.0, settings.WORKER_POLL_INTERVAL * 3))


def live_workers() -> list[WorkerHeartbeat]:
    since = timezone.now() - stale_after()
    return list(WorkerHeartbeat.objects.filter(last_beat_at__gte=since).order_by("name"))


# How long a silent host is still reported as lost; after that it is taken as retired.
LOST_HOST_MEMORY = timedelta(hours=24)


@dataclass(frozen=True)
class LostHost:
    host: str
    last_beat_at: datetime


def lost_hosts(now: datetime) -> list[LostHost]:
    """Hosts whose workers all went silent without a graceful stop, within the last day.

    One host's loss matters even while another host's workers carry the queue: its share of
    the capacity is gone, and it may come back with work half done.
    """
    window_start = now - LOST_HOST_MEMORY
    latest_by_host: dict[str, WorkerHeartbeat] = {}
    for heartbeat in WorkerHeartbeat.objects.filter(last_beat_at__gte=window_start).order_by(
        "last_beat_at"
    ):
        latest_by_host[heartbeat.host] = heartbeat
    silent_since = now - stale_after()
    return [
        LostHost(host, heartbeat.last_beat_at)
        for host, heartbeat in sorted(latest_by_host.items())
        if heartbeat.last_beat_at < silent_since and heartbeat.stopped_at is None
    ]


def last_beat() -> datetime | None:
    latest = WorkerHeartbeat.objects.order_by("-last_beat_at").first()
    return latest.last_beat_at if latest else None
