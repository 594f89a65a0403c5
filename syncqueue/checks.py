"""System checks that the worker's time limits fit together."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_worker_timings(app_configs, **kwargs):
    problems = []
    q = settings.Q_CLUSTER
    if q["retry"] <= q["timeout"]:
        problems.append(
            Error(
                "Q_CLUSTER retry must exceed timeout, or django-q2 re-delivers a drain task "
                "while the first run may still be working.",
                id="syncqueue.E001",
            )
        )
    if q["timeout"] > settings.STUCK_EVENT_SECONDS:
        problems.append(
            Warning(
                f"STUCK_EVENT_MINUTES ({settings.STUCK_EVENT_SECONDS / 60:g}) is shorter than a "
                f"drain task's timeout ({q['timeout']} s): a slow batch can lose its lease. The "
                "claim token keeps the event from applying twice, but it costs an attempt.",
                id="syncqueue.W001",
            )
        )
    return problems
