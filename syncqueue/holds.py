"""Holding a record: its events wait in the queue until an operator releases it.

A hold stops new claims of the record's waiting events (``CLAIMABLE_WHERE``); an event a
worker already holds finishes. Releasing wakes the workers, and the waiting events apply in
their order of arrival.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from syncqueue.dispatch import request_drain
from syncqueue.models import RecordHold


def hold_record(entity: str, record_id: str, actor: str, reason: str = "") -> bool:
    """Hold the record; False when it was already held (the first hold stays)."""
    try:
        with transaction.atomic():
            RecordHold.objects.create(
                entity=entity, record_id=record_id, held_by=actor[:150], reason=reason
            )
    except IntegrityError:
        return False
    return True


def release_record(entity: str, record_id: str) -> bool:
    """Release the record; False when it was not held."""
    with transaction.atomic():
        released, _ = RecordHold.objects.filter(entity=entity, record_id=record_id).delete()
        if released:
            transaction.on_commit(request_drain)
    return bool(released)


def is_held(entity: str, record_id: str) -> bool:
    return RecordHold.objects.filter(entity=entity, record_id=record_id).exists()
