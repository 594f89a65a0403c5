"""Applying claimed entries: each in its own transaction with its status and its log row.

An entry ends completed (applied or skipped as stale), failed with a retry time from
RETRY_DELAYS, or, after RETRY_MAX_ATTEMPTS attempts, dead-lettered with its last error.
Every status change checks the claim token, so an entry whose lease was taken over by
another worker is never completed twice: the late worker writes nothing. On PostgreSQL the
ERP change, the status and the log row are one statement, hence one round trip and one
transaction (see ``drain_settings`` for PgBouncer); elsewhere they are several statements in
one transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, InternalError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from entities.effects import BEFORE
from entities.engine import WRITTEN, EventWrite, plan_event
from syncqueue.claims import Claim, claim_batch, release_claims
from syncqueue.drain_settings import (
    draining_session,
    draining_transaction,
    set_session_settings,
)
from syncqueue.holds import hold_if_failing_repeatedly
from syncqueue.models import (
    SUCCEEDED,
    DeadLetter,
    Outcome,
    QueueEntry,
    RecordEffect,
    Status,
    SyncLog,
)
from syncqueue.shutdown import stop_requested
from tds_site.postgresql.base import closed_by_server

logger = logging.getLogger("tds.worker")
T = TypeVar("T")


class WorkerLost(Exception):
    """An entry's attempts kept ending with the death of the worker holding it."""


class LeaseLost(Exception):
    """Another worker reclaimed this entry after our lease ran out."""


class HandedBack(StrEnum):
    """A claim that ended without an attempt: nothing logged, the entry goes on."""

    LEASE_LOST = "lease_lost"  # another worker has it now
    BUSY = "busy"  # its record was locked; back in a moment, same attempt


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def drain(worker: str | None = None, budget_seconds: float | None = None) -> int:
    """Claim and apply batches until nothing is claimable, the time budget is spent or the
    cluster is stopping (then the claims not yet started are handed back).

    Losing the database (a restart, a failover) is not the events' fault: the drain waits
    for it within its budget, then goes on with the batch it holds, each entry on the same
    attempt. Its leases are still its own, and an entry whose apply did commit before the
    connection broke is protected by its claim token from being applied twice.
    """
    worker = worker or worker_name()
    budget = settings.DRAIN_TASK_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    done = 0
    with draining_session():
        while time.monotonic() < deadline:
            claims = _surviving_outages(lambda: claim_batch(worker), deadline)
            if not claims:
                break
            for index, claim in enumerate(claims):
                if stop_requested():
                    release_claims(claims[index:])
                    return done
                _surviving_outages(lambda claim=claim: process_claim(claim, worker), deadline)
                done += 1
    return done


class DatabaseLost(Exception):
    """The connection broke under an event: the database's fault, not the event's."""


def _surviving_outages(step: Callable[[], T], deadline: float) -> T:
    """Run ``step``; if the database goes away, wait for it (until ``deadline``, then give
    up with the error) and run ``step`` again on a new connection."""
    pause, reconnecting = 0.1, False
    while True:
        try:
            if _dropped_if_server_closed() or reconnecting:
                set_session_settings()
            return step()
        except (DatabaseLost, OperationalError, InterfaceError, InternalError) as error:
            if not isinstance(error, DatabaseLost) and not _database_lost(error):
                raise
            connection.close()
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("database connection lost; reconnecting", extra={"error": str(error)})
            time.sleep(pause)
            pause, reconnecting = min(pause * 2, 2.0), True


def _dropped_if_server_closed() -> bool:
    """Close the connection if, while idle, it was told the server went away (PgBouncer's
    connections stay open and carry the notice), so the next step starts on a new one
    rather than reading that notice as its own answer."""
    raw = connection.connection
    if connection.vendor != "postgresql" or raw is None or raw.closed:
        return False
    if not closed_by_server(raw):
        return False
    connection.close()
    return True


# Errors that say the database went away while the connection itself may still be open
# (PgBouncer keeps its clients' connections): SQLSTATE class 08 (connection exception, as
# PgBouncer's "server conn crashed?"), a server shutting down or starting up, and psycopg's
# own complaints without a SQLSTATE (answers out of step with the commands sent).
_OUTAGE_CLASS = "08"
_OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03"})


def _database_lost(error: Exception) -> bool:
    """Whether ``error`` is the database's outage rather than a failure of the event (a
    deadlock, a lock timeout, a value refused), which leaves the connection usable."""
    if connection.vendor != "postgresql":  # a file: no server to lose
        return False
    if not isinstance(error, OperationalError | InterfaceError | InternalError):
        return False
    raw = connection.connection
    if raw is None or getattr(raw, "closed", False):  # psycopg closes a connection whose
        return True  # server went away
    state = getattr(error.__cause__, "sqlstate", None)
    if state is None:
        return True
    return state.startswith(_OUTAGE_CLASS) or state in _OUTAGE_STATES


# A record locked by someone else for longer than the drain's lock_timeout (see
# drain_settings): its event steps aside for a moment.
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout
BUSY_RECORD_RETRY_SECONDS = 1


def process_claim(claim: Claim, worker: str) -> Outcome | HandedBack:
    """Apply one claimed entry; returns how its attempt ended, or why there was none."""
    started = time.perf_counter()
    try:
        if claim.lost_leases >= settings.RETRY_POLICY.max_attempts:
            # Each earlier claim ended with its worker dead, killed or stopped past its
            # lease: perhaps the event's doing, so it goes to the dead letters, not round
            # and round.
            raise WorkerLost(
                f"no attempt finished: the worker died or timed out {claim.lost_leases} times"
            )
        now = timezone.now()
        write = plan_event(claim.entity, claim.operation, claim.payload, now)
        if claim.replayed and not write.dated and _superseded(claim):
            # An undated change is ordered by its arrival alone: a replayed one must not
            # overwrite what a later event of its record already wrote.
            return _complete(claim, Outcome.STALE, started, worker, now)
        if connection.vendor == "postgresql":
            return _apply_in_one_statement(claim, write, worker, now)
        with transaction.atomic():
            written, changes = write.run_with_changes()
            if changes is not None:
                _record_effect(claim, changes, now)
            outcome = Outcome.STALE if written.stale else Outcome.APPLIED
            return _complete(claim, outcome, started, worker, now)
    except LeaseLost:
        logger.warning("lease lost", extra={"entry_id": claim.entry_id, "worker": worker})
        return HandedBack.LEASE_LOST
    except Exception as error:  # any failure is retried, then dead-lettered
        if _database_lost(error):
            raise DatabaseLost(str(error)) from error
        if getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            # Someone else holds the record's row: not the event's fault. Its place goes
            # to the rest of the batch; the event comes back in a moment, same attempt.
            logger.warning("record busy", extra={"entry_id": claim.entry_id, "worker": worker})
            release_claims([claim], timezone.now() + timedelta(seconds=BUSY_RECORD_RETRY_SECONDS))
            return HandedBack.BUSY
        return _record_failure(claim, error, started, worker)


REPLAY_RESOLUTION = "Applied after replay."
_QUEUE = QueueEntry._meta.db_table
_LOGS = SyncLog._meta.db_table
_DEAD_LETTERS = DeadLetter._meta.db_table
# The lease gates the whole statement: if another worker took the entry over, the lease
# CTE is empty and nothing at all is written.
_LEASE = (
    f"lease AS (SELECT id, inbox_event_id FROM {_QUEUE} "
    f"WHERE id = %s AND status = '{Status.PROCESSING}' AND claim_token = %s FOR UPDATE)"
)
_DONE = (
    f"done AS (UPDATE {_QUEUE} SET status = '{Status.COMPLETED}', attempts = attempts + 1, "
    f"outcome = CASE WHEN EXISTS "
    f"(SELECT 1 FROM {WRITTEN}) THEN '{Outcome.APPLIED}' ELSE '{Outcome.STALE}' END, "
    f"locked_until = NULL, locked_by = '', last_error = '', updated_at = %s, completed_at = %s "
    f"WHERE id IN (SELECT id FROM lease) RETURNING id, outcome)"
)
_LOGGED = (
    f"logged AS (INSERT INTO {_LOGS} (entry_id, entity, record_id, operation, attempt, "
    f"outcome, duration_ms, latency_ms, error, worker, created_at) "
    f"SELECT done.id, %s, %s, %s, %s, done.outcome, "
    f"round(extract(epoch FROM clock_timestamp() - %s) * 1000, 3), %s, '', %s, %s FROM done)"
)
_EFFECTS = RecordEffect._meta.db_table
# The effect ledger's row: only when the change was written (a stale one changed nothing).
_EFFECT = (
    f"effect AS (INSERT INTO {_EFFECTS} (entity, record_id, entry_id, inbox_event_id, "
    f"operation, applied_at, changes) SELECT %s, %s, lease.id, lease.inbox_event_id, %s, %s, "
    "{changes} FROM {written} CROSS JOIN lease LEFT JOIN {before} ON TRUE)"
)
_RESOLVED = (
    f"resolved AS (UPDATE {_DEAD_LETTERS} SET resolved = TRUE, resolved_at = %s, "
    f"resolution_note = %s WHERE entry_id IN (SELECT id FROM done) AND resolved = FALSE)"
)


def _apply_in_one_statement(claim: Claim, write: EventWrite, worker: str, now) -> Outcome:
    """PostgreSQL: the ERP change, the status, the log row (and a replay's dead letter) in
    one statement, so one round trip and one implicit transaction; behind PgBouncer, an
    explicit one that sets the drain's settings first (raises LeaseLost)."""
    at = connection.ops.adapt_datetimefield_value(now)
    change, change_params = write.ctes(gate="lease", before=True)
    effect = _EFFECT.format(changes=write.changes_sql(), written=WRITTEN, before=BEFORE)
    ctes = [_LEASE, change, _DONE, _LOGGED, effect]
    params = [claim.entry_id, claim.token, *change_params, at, at]
    params += [claim.entity, claim.record_id, claim.operation, claim.attempt]
    params += [at, _latency_ms(claim, now), worker, at]
    params += [claim.entity, claim.record_id, claim.operation, at]
    if claim.replayed:
        ctes.append(_RESOLVED)
        params += [at, REPLAY_RESOLUTION]
    with draining_transaction(), connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT outcome FROM done", params)
        row = cursor.fetchone()
    if row is None:
        raise LeaseLost(claim.entry_id)
    return Outcome(row[0])


def _record_effect(claim: Claim, changes: dict, now) -> None:
    """Step by step: the effect ledger's row of an applied change."""
    RecordEffect.objects.create(
        entity=claim.entity,
        record_id=claim.record_id,
        entry_id=claim.entry_id,
        inbox_event_id=QueueEntry.objects.values_list("inbox_event_id", flat=True).get(
            pk=claim.entry_id
        ),
        operation=claim.operation,
        applied_at=now,
        changes=changes,
    )


def _superseded(claim: Claim) -> bool:
    """Whether an event of the same record that arrived after this one has been applied."""
    return QueueEntry.objects.filter(
        entity=claim.entity,
        record_id=claim.record_id,
        id__gt=claim.entry_id,
        status=Status.COMPLETED,
        outcome=Outcome.APPLIED,
    ).exists()


def _complete(claim: Claim, outcome: Outcome, started: float, worker: str, now) -> Outcome:
    """Step by step: the entry completed, its log row, and a replay's dead letter resolved."""
    with transaction.atomic():
        _finish(claim, Status.COMPLETED, outcome, now, error="")
        _log(claim, outcome, started, worker, now, error="")
        if claim.replayed:
            DeadLetter.objects.filter(entry_id=claim.entry_id, resolved=False).update(
                resolved=True, resolved_at=now, resolution_note=REPLAY_RESOLUTION
            )
    return outcome


def _duration_ms(started: float) -> Decimal:
    return Decimal((time.perf_counter() - started) * 1000).quantize(Decimal("0.001"))


def _latency_ms(claim: Claim, now) -> Decimal:
    """Accepted (queued) to applied."""
    return Decimal((now - claim.created_at).total_seconds() * 1000).quantize(Decimal("0.001"))


def _finish(claim: Claim, status: Status, outcome: Outcome | str, now, error: str, **extra) -> None:
    updated = QueueEntry.objects.filter(
        id=claim.entry_id, status=Status.PROCESSING, claim_token=claim.token
    ).update(
        status=status,
        attempts=F("attempts") + 1,
        outcome=outcome,
        locked_until=None,
        locked_by="",
        last_error=error,
        updated_at=now,
        completed_at=now if status == Status.COMPLETED else None,
        **extra,
    )
    if not updated:
        raise LeaseLost(claim.entry_id)


def _log(claim: Claim, outcome: Outcome, started: float, worker: str, now, error: str) -> None:
    SyncLog.objects.create(
        entry_id=claim.entry_id,
        entity=claim.entity,
        record_id=claim.record_id,
        operation=claim.operation,
        attempt=claim.attempt,
        outcome=outcome,
        duration_ms=_duration_ms(started),
        latency_ms=_latency_ms(claim, now) if outcome in SUCCEEDED else None,
        error=error,
        worker=worker,
        created_at=now,
    )


def _record_failure(
    claim: Claim, error: Exception, started: float, worker: str
) -> Outcome | HandedBack:
    message = f"{type(error).__name__}: {error}"[:4000]
    policy = settings.RETRY_POLICY
    try:
        with transaction.atomic():
            now = timezone.now()
            if claim.attempt >= policy.max_attempts or isinstance(error, WorkerLost):
                _finish(claim, Status.DEAD_LETTER, Outcome.DEAD_LETTER, now, message)
                _dead_letter(claim, message, traceback.format_exc(), now)
                outcome = Outcome.DEAD_LETTER
            else:
                retry_at = now + timedelta(seconds=policy.delay_after(claim.attempt))
                # The entry's outcome stays blank until an attempt ends it; the log says failed.
                _finish(claim, Status.FAILED, "", now, message, next_attempt_at=retry_at)
                outcome = Outcome.FAILED
            _log(claim, outcome, started, worker, now, message)
            if outcome == Outcome.DEAD_LETTER:
                hold_if_failing_repeatedly(claim.entity, claim.record_id, now)
    except LeaseLost:
        return HandedBack.LEASE_LOST
    logger.warning(
        "event %s",
        outcome,
        extra={"entry_id": claim.entry_id, "entity": claim.entity, "error": message},
    )
    return outcome


def _dead_letter(claim: Claim, message: str, trace: str, now) -> None:
    DeadLetter.open_for(
        claim.entry_id,
        claim,
        error=message,
        traceback=trace[-20000:],
        attempts=claim.attempt,
        at=now,
    )
