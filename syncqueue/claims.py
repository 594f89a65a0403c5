"""Claiming queue entries: a batch at a time, under a lease, one record at a time.

Only the head of each record's chain is claimable: an entry is skipped while an earlier
entry of the same record is unfinished, so one record's events apply in arrival order and
never two at once. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets many workers claim side by
side; on SQLite the transaction takes the database's write lock at BEGIN (IMMEDIATE mode),
which serialises claims just as safely.

A claim is a lease: ``locked_until``. An entry whose lease ran out (its worker died) is
claimable again, and each claim gets a fresh token so that the old holder, should it wake
up, can no longer complete it. A claim is not an attempt: ``attempts`` counts the attempts
that ended (each with its log row), ``lost_leases`` the claims whose worker never finished.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from syncqueue.drain_settings import set_locally, settings_per_transaction
from syncqueue.models import CLAIMABLE_WHERE, QueueEntry, Status

_TABLE = QueueEntry._meta.db_table

# PostgreSQL walks ``tds_queue_due`` in id order and stops at the LIMIT, even when its
# statistics still describe a queue of completed entries (the usual state before a burst).
_CANDIDATES = f"""
    SELECT c.id FROM {_TABLE} c
    WHERE {CLAIMABLE_WHERE.format(table=_TABLE)}
    ORDER BY c.id
    LIMIT %s
"""

_CLAIM = f"""
    UPDATE {_TABLE}
    SET status = '{Status.PROCESSING}', locked_by = %s, locked_until = %s, claim_token = %s,
        lost_leases = lost_leases + CASE WHEN status = '{Status.PROCESSING}' THEN 1 ELSE 0 END,
        updated_at = %s
    WHERE id IN ({{candidates}})
    RETURNING id, entity, record_id, operation, payload, attempts + 1, created_at, replayed,
        lost_leases
"""


@dataclass(frozen=True)
class Claim:
    entry_id: int
    entity: str
    record_id: str
    operation: str
    payload: dict
    attempt: int
    created_at: datetime
    token: str
    replayed: bool
    lost_leases: int  # earlier claims of this attempt whose worker never finished


def claim_batch(worker: str, limit: int | None = None) -> list[Claim]:
    """Lease up to ``limit`` due entries (WORKER_BATCH_SIZE by default) to ``worker``."""
    now = timezone.now()
    token = secrets.token_hex(8)
    candidates = _CANDIDATES
    if connection.vendor == "postgresql":
        candidates += " FOR UPDATE SKIP LOCKED"
    at = _adapt(now)
    until = _adapt(now + timedelta(seconds=settings.STUCK_EVENT_SECONDS))
    params = (worker, until, token, at, at, at, limit or settings.WORKER_BATCH_SIZE)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Statistics lag behind a burst (a new table has none at all): the planner then
            # thinks the backlog tiny and sorts all of it on every claim. Walking the index
            # in id order is right at any size.
            set_locally({"enable_sort": "off", **settings_per_transaction()})
        cursor.execute(_CLAIM.format(candidates=candidates), params)
        rows = cursor.fetchall()
    payload_from_db, created_at_from_db = _from_db("payload"), _from_db("created_at")
    claims = [
        Claim(
            entry_id=row[0],
            entity=row[1],
            record_id=row[2],
            operation=row[3],
            payload=payload_from_db(row[4]),
            attempt=row[5],
            created_at=created_at_from_db(row[6]),
            token=token,
            replayed=bool(row[7]),
            lost_leases=row[8],
        )
        for row in rows
    ]
    claims.sort(key=lambda claim: claim.entry_id)
    return claims


def _adapt(moment: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(moment)


def _from_db(field_name: str) -> Callable[[object], object]:
    """What converts a raw value of the column the way the ORM would (JSON text, SQLite
    datetimes): found once per batch, not once per value."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # not the proxy, which looks it up on every use
    column = QueueEntry._meta.get_field(field_name).cached_col
    converters = wrapper.ops.get_db_converters(column)
    converters += column.field.get_db_converters(wrapper)

    def convert(value: object) -> object:
        for converter in converters:
            value = converter(value, column, wrapper)
        return value

    return convert


def has_claimable_entries() -> bool:
    """Whether a worker could start on something now (the poll, and a drain handing over)."""
    return QueueEntry.objects.claimable(timezone.now()).exists()


def release_claims(claims: list[Claim], retry_at: datetime | None = None) -> int:
    """Hand back claimed entries, their attempt unused: not started (their worker is
    stopping), or held up by something that is not theirs. Claimable again at ``retry_at``
    (at once by default)."""
    if not claims:
        return 0
    now = timezone.now()
    return QueueEntry.objects.filter(
        id__in=[claim.entry_id for claim in claims],
        status=Status.PROCESSING,
        claim_token=claims[0].token,
    ).update(
        status=Case(When(attempts=0, then=Value(Status.PENDING)), default=Value(Status.FAILED)),
        locked_by="",
        locked_until=None,
        claim_token="",
        next_attempt_at=retry_at or now,
        updated_at=now,
    )
