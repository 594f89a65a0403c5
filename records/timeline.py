"""A record's story: what is in the ERP now, and every event received for it, in order.

``record_timeline`` answers "what happened to invoice 4600000012345?" from the tables that
keep it: the queue entries of the record (one per event, webhook or reconciliation), each
with its attempts from the sync log, its dead letter and what it changed (the effect
ledger), and the ERP row itself. The ledger outlives the queue (LEDGER_RETENTION_DAYS): an
event whose entry was purged still shows, from its ledger row, as ``purged``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.forms.models import model_to_dict

from entities.mappings import BY_ENTITY
from syncqueue.holds import is_held
from syncqueue.models import DeadLetter, QueueEntry, RecordEffect, Status, SyncLog


@dataclass(frozen=True)
class Timeline:
    entity: str
    zoho_id: str
    held: bool
    erp: dict[str, Any] | None
    events: list[dict[str, Any]]

    @property
    def known(self) -> bool:
        return self.held or self.erp is not None or bool(self.events)


def record_timeline(entity: str, zoho_id: str) -> Timeline:
    """The record's timeline; raises KeyError for an entity TDS Core does not sync."""
    mapping = BY_ENTITY[entity]
    row = mapping.model.objects.filter(zoho_id=zoho_id).first()
    return Timeline(
        entity=entity,
        zoho_id=zoho_id,
        held=is_held(entity, zoho_id),
        erp=None if row is None else _exact(model_to_dict(row)),
        events=_events(entity, zoho_id),
    )


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    """Money as exact decimal strings: JSON numbers would pass through binary floats."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _events(entity: str, zoho_id: str) -> list[dict[str, Any]]:
    entries = list(QueueEntry.objects.filter(entity=entity, record_id=zoho_id).order_by("id"))
    effects = {
        effect.entry_id: effect
        for effect in RecordEffect.objects.filter(entity=entity, record_id=zoho_id)
    }
    ids = sorted({entry.pk for entry in entries} | effects.keys())
    attempts: dict[int, list[dict[str, Any]]] = {}
    for log in SyncLog.objects.filter(entry_id__in=ids).order_by("entry_id", "attempt", "id"):
        attempts.setdefault(log.entry_id, []).append(
            {
                "attempt": log.attempt,
                "at": log.created_at,
                "outcome": log.outcome,
                "error": log.error,
                "duration_ms": log.duration_ms,
                "worker": log.worker,
            }
        )
    letters = {letter.entry_id: letter for letter in DeadLetter.objects.filter(entry_id__in=ids)}
    queued = {entry.pk: entry for entry in entries}
    events = []
    for entry_id in ids:  # entry ids are in order of receipt
        entry, effect = queued.get(entry_id), effects.get(entry_id)
        inbox_event_id = entry.inbox_event_id if entry else effect.inbox_event_id
        events.append(
            {
                # The id a webhook's 202 answer gave; a reconciliation event has no inbox row.
                "event_id": str(inbox_event_id or f"queue-{entry_id}"),
                "received_at": entry.created_at if entry else None,
                "source": entry.source if entry else "",
                "operation": entry.operation if entry else effect.operation,
                "status": entry.status if entry else Status.COMPLETED,
                "purged": entry is None,
                "attempts": attempts.get(entry_id, []),
                "dead_letter": _dead_letter(letters.get(entry_id)),
                "applied_at": effect.applied_at if effect else None,
                "changes": effect.changes if effect else None,
            }
        )
    return events


def _dead_letter(letter: DeadLetter | None) -> dict[str, Any] | None:
    if letter is None:
        return None
    return {
        "id": letter.pk,
        "error": letter.error,
        "dead_lettered_at": letter.dead_lettered_at,
        "replay_count": letter.replay_count,
        "replayed_by": letter.replayed_by,
        "resolved": letter.resolved,
        "resolved_by": letter.resolved_by,
        "resolution_note": letter.resolution_note,
    }
