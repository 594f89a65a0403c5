"""Putting dead letters back in the queue for a fresh cycle of attempts, safely.

A dead letter replays either *as received* (the payload Zoho sent, kept in the letter) or
*from Zoho's current record*, fetched through the source the reconciliation app registers
(``set_current_record_source``); the stale payload stays in the letter either way. Before
either, ``preview_replay`` shows the ERP change it would make: the event is applied inside
a transaction that is then rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from entities.engine import plan_event
from entities.mappings import BY_ENTITY
from syncqueue.models import DeadLetter, QueueEntry, Status


class ReplaySource(models.TextChoices):
    RECEIVED = "received", "as received"
    ZOHO = "zoho", "Zoho's current record"


class ReplayUnavailable(Exception):
    """Zoho's current record cannot be had (reconciliation is off, or Zoho failed)."""


# (entity, Zoho id) -> the record as Zoho has it now, or None when Zoho no longer has it.
CurrentRecord = Callable[[str, str], dict[str, Any] | None]
_current_record: CurrentRecord | None = None


def set_current_record_source(fetch: CurrentRecord) -> None:
    """Called by the reconciliation app as it starts: it owns the Zoho API client."""
    global _current_record
    _current_record = fetch


@dataclass(frozen=True)
class ReplayEvent:
    """What a replay would put back in the queue."""

    operation: str
    payload: dict[str, Any]


def replay_event(letter: DeadLetter, source: ReplaySource) -> ReplayEvent:
    if source == ReplaySource.RECEIVED:
        return ReplayEvent(letter.operation, letter.payload)
    if _current_record is None:
        raise ReplayUnavailable("no source of Zoho's current records is installed")
    current = _current_record(letter.entity, letter.record_id)
    if current is None:  # gone from Zoho: the ERP should have it deleted too
        id_field = BY_ENTITY[letter.entity].id_field
        return ReplayEvent("delete", {id_field: letter.record_id})
    return ReplayEvent("update", current)


@dataclass(frozen=True)
class ReplayPreview:
    """The ERP change a replay would make: ``changes`` (column: [before, after]), or
    ``stale`` (the ERP holds newer data: nothing would change), or the ``error`` it would
    fail with again."""

    dead_letter_id: int
    source: ReplaySource
    event: ReplayEvent | None
    changes: dict[str, list[Any]] | None = None
    stale: bool = False
    error: str = ""


class _RolledBack(Exception):
    def __init__(self, changes: dict[str, list[Any]] | None) -> None:
        self.changes = changes


def preview_replay(letter: DeadLetter, source: ReplaySource) -> ReplayPreview:
    """Apply the replayed event inside a transaction that is rolled back; say what it did."""
    try:
        event = replay_event(letter, source)
    except Exception as error:  # Zoho unreachable, refused, credentials missing…
        return ReplayPreview(letter.pk, source, None, error=_described(error))
    try:
        with transaction.atomic():
            write = plan_event(letter.entity, event.operation, event.payload, timezone.now())
            raise _RolledBack(write.run_with_changes()[1])
    except _RolledBack as done:
        changes = done.changes
    except Exception as error:  # the event would fail again: show why
        return ReplayPreview(letter.pk, source, event, error=_described(error))
    return ReplayPreview(letter.pk, source, event, changes=changes, stale=changes is None)


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def replay_dead_letters(
    dead_letters: QuerySet[DeadLetter],
    actor: str = "",
    source: ReplaySource = ReplaySource.RECEIVED,
) -> int:
    """Re-queue the unresolved ones among ``dead_letters``; returns how many.

    From Zoho's current record, each entry's payload (and operation) is replaced by what
    Zoho has now, fetched before the transaction; the letter keeps the payload as received.
    The dead letter stays open until its event applies (the worker resolves it then), so
    an event that fails again is still visible, with its new error, in the same place.
    """
    fresh: dict[int, ReplayEvent] = {}
    if source == ReplaySource.ZOHO:
        for letter in dead_letters.filter(resolved=False):
            fresh[letter.entry_id] = replay_event(letter, source)
    now = timezone.now()
    with transaction.atomic():
        open_ones = dead_letters.filter(resolved=False).select_for_update()
        entry_ids = list(open_ones.values_list("entry_id", flat=True))
        if not entry_ids:
            return 0
        if source == ReplaySource.ZOHO:
            entry_ids = [entry_id for entry_id in entry_ids if entry_id in fresh]
            for entry_id in entry_ids:
                event = fresh[entry_id]
                QueueEntry.objects.filter(id=entry_id).update(
                    operation=event.operation, payload=event.payload
                )
        QueueEntry.objects.filter(id__in=entry_ids, status=Status.DEAD_LETTER).update(
            status=Status.PENDING,
            attempts=0,
            lost_leases=0,
            replayed=True,
            next_attempt_at=now,
            claim_token="",
            updated_at=now,
        )
        DeadLetter.objects.filter(entry_id__in=entry_ids).update(
            replay_count=F("replay_count") + 1,
            replayed_at=now,
            replayed_by=actor,
            replayed_from=source,
        )
    return len(entry_ids)
