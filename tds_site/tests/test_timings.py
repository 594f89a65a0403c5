"""The worker's time limits fit inside any claim lease of a minute or more."""

from __future__ import annotations

import pytest

from tds_site.timings import WorkerTimings, worker_timings


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (1, WorkerTimings(30.0, 45, 60)),
        (1.5, WorkerTimings(45.0, 67, 90)),
        (2, WorkerTimings(60.0, 90, 120)),
        (15, WorkerTimings(60.0, 90, 120)),
        (600, WorkerTimings(60.0, 90, 120)),
    ],
)
def test_limits_shrink_with_a_short_lease_and_stay_inside_it(minutes, expected):
    lease = minutes * 60
    timings = worker_timings(lease)
    assert timings == expected
    assert timings.drain_seconds < timings.task_timeout < timings.task_retry <= lease


def test_a_lease_under_a_minute_keeps_the_one_minute_limits(settings):
    from syncqueue.checks import check_worker_timings

    assert worker_timings(3) == WorkerTimings(30.0, 45, 60)
    settings.STUCK_EVENT_SECONDS = 3  # e.g. STUCK_EVENT_MINUTES=0.05 in a test of reclaiming
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 45, "retry": 60}
    assert [p.id for p in check_worker_timings(None)] == ["syncqueue.W001"]
