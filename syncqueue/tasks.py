"""The django-q2 task that workers run: drain the queue."""

from __future__ import annotations

from syncqueue.processing import drain


def drain_queue() -> int:
    """Claim and apply batches until the queue has nothing due (or the time budget ends)."""
    return drain()
