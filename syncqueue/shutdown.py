"""A worker cluster's stop request, seen by the drains in its worker processes.

``qcluster`` creates it before django-q2 forks the cluster's processes, so all of them share
it. On SIGTERM a drain finishes the event in hand and hands back the rest of its batch, so
that a stop (a deploy, a reboot) takes seconds, not the drain's whole time budget, and
costs no event an attempt.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Event

_stop: Event | None = None


def share_stop_request() -> None:
    """In the cluster's main process, before it forks."""
    global _stop
    _stop = multiprocessing.get_context("fork").Event()


def request_stop() -> None:
    if _stop is not None:
        _stop.set()


def stop_requested() -> bool:
    return _stop is not None and _stop.is_set()
