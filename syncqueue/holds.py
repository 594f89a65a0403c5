"""Holding a record: its events wait in the queue until an operator releases it.

A hold stops new claims of the record's waiting events (``CLAIMABLE_WHERE``); an event a
worker already holds finishes. Releasing wakes the workers, and the waiting events apply in
their order of arrival.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from syncqueue.dispatch import request_drain
from syncqueue.models import Outcome, RecordHold, SyncLog

# A record whose events were dead-lettered this often within a day is held automatically:
# something about it keeps failing, and its next events would only fail the same way.
AUTO_HOLD_DEAD_LETTERS = 3
AUTO_HOLD_WINDOW = timedelta(days=1)
AUTO_HOLD_ACTOR = "automatic"


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


def hold_if_failing_repeatedly(entity: str, record_id: str, now: datetime) -> bool:
    """After a dead-lettering: hold the record if it is its third within a day."""
    dead_lettered = SyncLog.objects.filter(
        entity=entity,
        record_id=record_id,
        outcome=Outcome.DEAD_LETTER,
        created_at__gt=now - AUTO_HOLD_WINDOW,
    ).count()
    if dead_lettered < AUTO_HOLD_DEAD_LETTERS:
        return False
    reason = f"{dead_lettered} events dead-lettered within {AUTO_HOLD_WINDOW.days} day"
    return hold_record(entity, record_id, actor=AUTO_HOLD_ACTOR, reason=reason)
