"""Rows for the console's tests, made directly (the ingest and worker paths have their own)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from inbox.models import InboxEvent
from syncqueue.models import DeadLetter, QueueEntry, Status, SyncLog

ITEM = {"item_id": "9000000000001", "name": "Widget", "rate": 12.5, "sku": "W-1"}


def make_event(
    entity: str = "products",
    record_id: str = "1",
    body: bytes | None = None,
    received_at: datetime | None = None,
    **extra,
) -> InboxEvent:
    body = (
        body if body is not None else json.dumps({"item": {**ITEM, "item_id": record_id}}).encode()
    )
    return InboxEvent.objects.create(
        entity=entity,
        record_id=record_id,
        operation=extra.pop("operation", "upsert"),
        content_hash=hashlib.sha256(body).hexdigest(),
        method="POST",
        path=f"/webhooks/zoho/{entity}/",
        raw_body=body,
        auth_method=extra.pop("auth_method", "signature"),
        received_at=received_at or timezone.now(),
        **extra,
    )


def make_entry(
    status: str = Status.PENDING,
    entity: str = "products",
    record_id: str = "1",
    payload: dict | None = None,
    event: InboxEvent | None = None,
    **extra,
) -> QueueEntry:
    return QueueEntry.objects.create(
        inbox_event_id=event.pk if event else None,
        entity=entity,
        record_id=record_id,
        operation=extra.pop("operation", "upsert"),
        payload=payload if payload is not None else {**ITEM, "item_id": record_id},
        status=status,
        **extra,
    )


def make_dead_letter(
    entity: str = "products",
    record_id: str = "1",
    payload: dict | None = None,
    resolved: bool = False,
    error: str = "ValueError: rate: 'abc' is not a number",
    **extra,
) -> DeadLetter:
    entry = make_entry(
        Status.DEAD_LETTER, entity=entity, record_id=record_id, payload=payload, attempts=3
    )
    return DeadLetter.objects.create(
        entry=entry,
        entity=entity,
        record_id=record_id,
        operation=entry.operation,
        payload=entry.payload,
        error=error,
        traceback="Traceback (most recent call last):\n  ...\nValueError: boom",
        attempts=3,
        resolved=resolved,
        **extra,
    )


def make_log(entry: QueueEntry, outcome: str = "failed", attempt: int = 1, **extra) -> SyncLog:
    return SyncLog.objects.create(
        entry_id=entry.pk,
        entity=entry.entity,
        record_id=entry.record_id,
        operation=entry.operation,
        attempt=attempt,
        outcome=outcome,
        duration_ms=Decimal("1.5"),
        error=extra.pop("error", "" if outcome in ("applied", "stale") else "ValueError: boom"),
        worker="test:1",
        **extra,
    )
