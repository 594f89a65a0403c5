"""The worker's time limits, fitted inside the claim lease (STUCK_EVENT_MINUTES).

A drain task claims batches until its budget is spent; django-q2 kills it at ``timeout``
and hands it out again after ``retry``. Every batch is claimed after the task started, so
its lease outlives the task as long as ``timeout`` is no longer than the lease. The limits
keep their ratio (60 : 90 : 120 s at full size) and shrink with a lease under two minutes,
down to a one-minute lease. Shorter leases (tests of reclaiming) keep the one-minute limits:
a drain task killed every few seconds would cost attempts, and syncqueue.W001 says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FULL_DRAIN_SECONDS = 60.0
FULL_TIMEOUT_SECONDS = 90
FULL_RETRY_SECONDS = 120
MIN_LEASE_SECONDS = 60.0  # STUCK_EVENT_MINUTES=1


@dataclass(frozen=True)
class WorkerTimings:
    drain_seconds: float  # a drain task stops claiming new batches after this
    task_timeout: int  # django-q2 kills a task that runs longer
    task_retry: int  # django-q2 re-delivers an unacknowledged task after this


def worker_timings(lease_seconds: float) -> WorkerTimings:
    fitted = min(max(lease_seconds, MIN_LEASE_SECONDS), FULL_RETRY_SECONDS)
    scale = fitted / FULL_RETRY_SECONDS
    # django-q2 wants whole seconds; rounding down keeps both inside the lease.
    return WorkerTimings(
        drain_seconds=FULL_DRAIN_SECONDS * scale,
        task_timeout=math.floor(FULL_TIMEOUT_SECONDS * scale),
        task_retry=math.floor(FULL_RETRY_SECONDS * scale),
    )
