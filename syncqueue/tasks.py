"""The django-q2 task that workers run: drain the queue."""

from __future__ import annotations

from syncqueue.claims import has_claimable_entries
from syncqueue.dispatch import enqueue_drains
from syncqueue.processing import drain


def drain_queue() -> int:
    """Claim and apply batches until the queue has nothing due or the time budget ends.

    A drain that ran out of time hands over to a fresh task rather than leaving the rest
    of a backlog to the next poll.
    """
    applied = drain()
    if has_claimable_entries():
        enqueue_drains(1)
    return applied
