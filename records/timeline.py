"""A record's story: what is in the ERP now, and every event received for it, in order.

``record_timeline`` answers "what happened to invoice 4600000012345?" from the tables that
keep it: the queue entries of the record (one per event, webhook or reconciliation), each
with its attempts from the sync log and its dead letter, and the ERP row itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.forms.models import model_to_dict

from entities.mappings import BY_ENTITY
from syncqueue.holds import is_held
from syncqueue.models import DeadLetter, QueueEntry, SyncLog


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
    ids = [entry.pk for entry in entries]
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
    return [
        {
            # The id a webhook's 202 answer gave; a reconciliation event has no inbox row.
            "event_id": str(entry.inbox_event_id or f"queue-{entry.pk}"),
            "received_at": entry.created_at,
            "source": entry.source,
            "operation": entry.operation,
            "status": entry.status,
            "attempts": attempts.get(entry.pk, []),
            "dead_letter": _dead_letter(letters.get(entry.pk)),
            # What each applied event changed needs the effect ledger (not kept yet).
            "changes": None,
        }
        for entry in entries
    ]


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
