"""The django-q2 task that workers run: drain the queue."""

from __future__ import annotations

import logging

from syncqueue.claims import has_claimable_entries
from syncqueue.dispatch import enqueue_drains
from syncqueue.processing import drain

logger = logging.getLogger("tds.worker")


def drain_queue() -> int:
    """Claim and apply batches until the queue has nothing claimable or the time budget ends.

    A drain that ran out of time hands over to a fresh task rather than leaving the rest
    of a backlog to the next poll.
    """
    applied = drain()
    if has_claimable_entries():
        try:
            enqueue_drains(1)
        except Exception as error:  # the broker is away; the worker's poll takes over
            logger.warning("could not hand the backlog to a new drain task: %s", error)
    return applied
