"""The sync queue, its dead letters, its log, and the workers' heartbeats.

A queue entry carries the record to apply, so anything can queue work (a webhook, a
reconciliation run, a replay) without the queue knowing where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from syncqueue.jsonexact import ExactNumberEncoder
from tds_site.db import prepared_values


class Status(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD_LETTER = "dead_letter"


# Not yet completed or dead-lettered: waiting, failed with a retry due, or in a worker's hands.
UNFINISHED = (Status.PENDING, Status.FAILED, Status.PROCESSING)
_UNFINISHED_SQL = ", ".join(f"'{status}'" for status in UNFINISHED)

# Records an operator holds (``RecordHold``): their events are queued but not claimed.
HOLDS_TABLE = "tds_record_holds"

# The one definition of "claimable", used by the claim, the workers' poll and the figures.
# A processing entry whose lease ran out (its worker died) is claimable again. A pending or
# failed entry is claimable once its time came, if it heads its record's chain: no earlier
# entry of the record unfinished, and no later one in flight (a replayed dead letter is
# unfinished again behind events that arrived after it). So one record's events apply in
# arrival order, never two at once; and not while its record is held. An entry that is due
# but waits for its record is not claimable; counting it as work made idle workers spin.
# Written for PostgreSQL's planner
# (see ``syncqueue.claims``): a CASE rather than an OR of indexable conditions, the chain
# tests as lookups per candidate in ``tds_queue_record_open``. ``{table}`` is the queue's
# table, ``%s`` twice the current time.
CLAIMABLE_WHERE = f"""
    c.status IN ({_UNFINISHED_SQL})
    AND CASE WHEN c.status = '{Status.PROCESSING}' THEN c.locked_until < %s
        ELSE c.next_attempt_at <= %s
            AND c.id = (
                SELECT min(p.id) FROM {{table}} p
                WHERE p.entity = c.entity AND p.record_id = c.record_id
                  AND p.status IN ({_UNFINISHED_SQL})
            )
            AND NOT EXISTS (
                SELECT 1 FROM {{table}} p
                WHERE p.entity = c.entity AND p.record_id = c.record_id
                  AND p.status = '{Status.PROCESSING}' AND p.id > c.id
            )
            AND NOT EXISTS (
                SELECT 1 FROM {HOLDS_TABLE} h
                WHERE h.entity = c.entity AND h.record_id = c.record_id
            )
        END
"""


class Outcome(models.TextChoices):
    """How an attempt ended: a queue entry's last outcome, and each sync-log row's."""

    APPLIED = "applied"
    STALE = "stale", "skipped as stale"
    FAILED = "failed", "failed, to be retried"
    DEAD_LETTER = "dead_letter", "dead-lettered"


# Attempts that reached the ERP's newest state, and attempts that did not.
SUCCEEDED = (Outcome.APPLIED, Outcome.STALE)
FAILED_OUTCOMES = (Outcome.FAILED, Outcome.DEAD_LETTER)


class QueueEntryQuerySet(models.QuerySet):
    def unfinished(self) -> QueueEntryQuerySet:
        return self.filter(status__in=UNFINISHED)

    def claimable(self, now: datetime) -> QueueEntryQuerySet:
        """Entries a worker could claim at ``now`` (see CLAIMABLE_WHERE)."""
        table = self.model._meta.db_table
        at = connection.ops.adapt_datetimefield_value(now)
        ids = f"SELECT c.id FROM {table} c WHERE {CLAIMABLE_WHERE.format(table=table)}"
        # Constant SQL from model metadata; the time travels as a parameter.
        return self.filter(id__in=RawSQL(ids, (at, at)))  # noqa: S611  # nosec B611


class Source(models.TextChoices):
    WEBHOOK = "webhook"
    RECONCILIATION = "reconciliation"


@dataclass(frozen=True)
class NewEvent:
    """One change of one Zoho record, as anything hands it to the queue."""

    entity: str
    record_id: str
    operation: str  # create, update or delete (what ``inbox.payloads`` tells apart)
    payload: dict = field(repr=False)
    source: Source = Source.WEBHOOK
    inbox_event_id: int | None = None


# The columns stamped with the moment of queuing: due at once, new, untouched.
_STAMPED = ("next_attempt_at", "created_at", "updated_at")


class QueueEntryManager(models.Manager.from_queryset(QueueEntryQuerySet)):
    """``enqueue`` is the one way into the queue; ``enqueue_sql`` is the same row for a
    caller that writes it inside a statement of its own (ingest, on PostgreSQL)."""

    def enqueue(self, events: Iterable[NewEvent], now: datetime | None = None) -> list:
        now = now or timezone.now()
        return self.bulk_create(self.model(**self._row(event, now)) for event in events)

    def enqueue_sql(self, event: NewEvent, now: datetime, inbox_event_from: str) -> tuple:
        """An INSERT of the entry whose ``inbox_event_id`` is the ``id`` that the CTE
        ``inbox_event_from`` yields (none, nothing inserted); returns (sql, params)."""
        sql, columns = _insert_after(self.model, inbox_event_from)
        return sql, prepared_values(self.model, columns, self._row(event, now))

    def _row(self, event: NewEvent, now: datetime) -> dict[str, Any]:
        """Every column of the new entry: the event's values, else the model's defaults."""
        return {
            **_constant_defaults(self.model),
            **event.__dict__,
            **dict.fromkeys(_STAMPED, now),
        }


@cache
def _constant_defaults(model: type[models.Model]) -> dict[str, Any]:
    """The defaults of the columns that neither an event nor the stamp sets (none of them
    mutable or time-dependent), read once: ``enqueue_sql`` is on ingest's hot path."""
    given = {f.name for f in fields(NewEvent)} | set(_STAMPED)
    return {
        f.column: f.get_default()
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in given
    }


@cache
def _insert_after(model: type[models.Model], cte: str) -> tuple[str, tuple[str, ...]]:
    columns = tuple(
        f.column
        for f in model._meta.concrete_fields
        if not f.primary_key and f.column != "inbox_event_id"
    )
    marks = ", ".join(["%s"] * len(columns))
    sql = (
        f"INSERT INTO {model._meta.db_table} (inbox_event_id, {', '.join(columns)}) "
        f"SELECT {cte}.id, {marks} FROM {cte}"
    )
    return sql, columns


class QueueEntry(models.Model):
    inbox_event_id = models.BigIntegerField(null=True, blank=True, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEBHOOK)
    entity = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=16)
    payload = models.JSONField(help_text="The Zoho record to apply.", encoder=ExactNumberEncoder)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    attempts = models.PositiveIntegerField(
        default=0, help_text="Attempts that ended, each with its row in the sync log."
    )
    lost_leases = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Claims whose worker died or stopped before finishing: not the event's "
        "attempts, yet an event that keeps killing its worker is dead-lettered.",
    )
    replayed = models.BooleanField(
        default=False, help_text="Put back from the dead-letter queue; resolves it on success."
    )
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_by = models.CharField(max_length=128, blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = QueueEntryManager()

    class Meta:
        db_table = "tds_sync_queue"
        verbose_name = "queue entry"
        verbose_name_plural = "queue"
        indexes = [
            # The claim query walks unfinished entries in id order and stops at its LIMIT,
            # instead of sorting the whole backlog on every claim.
            models.Index(
                fields=["id"],
                name="tds_queue_due",
                condition=Q(status__in=list(UNFINISHED)),
            ),
            # "Is an earlier event of this record still unfinished?"
            models.Index(
                fields=["entity", "record_id", "id"],
                name="tds_queue_record_open",
                condition=Q(status__in=list(UNFINISHED)),
            ),
            # A record's timeline: all its entries, finished ones included.
            models.Index(fields=["entity", "record_id"], name="tds_queue_record"),
            models.Index(fields=["status", "entity"], name="tds_queue_status_entity"),
            models.Index(fields=["completed_at"], name="tds_queue_completed"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.entity} {self.record_id} {self.operation} ({self.status})"


class DeadLetter(models.Model):
    """An event that used up its attempts; it stays until an operator resolves it."""

    entry = models.OneToOneField(QueueEntry, on_delete=models.CASCADE, related_name="dead_letter")
    entity = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=16)
    payload = models.JSONField(encoder=ExactNumberEncoder)
    error = models.TextField()
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    dead_lettered_at = models.DateTimeField(default=timezone.now)
    replay_count = models.PositiveIntegerField(default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.CharField(max_length=150, blank=True, default="")
    replayed_from = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="The last replay's payload: as received (kept here) or Zoho's current record.",
    )
    resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        db_table = "tds_dead_letter_queue"
        indexes = [models.Index(fields=["resolved", "entity"], name="tds_dlq_open")]

    def __str__(self) -> str:
        return f"{self.entity} {self.record_id}: {self.error[:60]}"

    @classmethod
    def open_for(
        cls, entry_id: int, event: QueueEntry | Any, *, error: str, traceback: str,
        attempts: int, at: datetime,
    ) -> None:  # fmt: skip
        """Dead-letter a queue entry; ``event`` is it, or its claim (what it carries:
        entity, record_id, operation, payload). A letter it already had (an earlier failure
        that was replayed or resolved) opens again, without the earlier resolution, and
        keeps the payload as first received (a replay may have sent Zoho's current one)."""
        reopened = {
            "entity": event.entity,
            "record_id": event.record_id,
            "error": error,
            "traceback": traceback,
            "attempts": attempts,
            "dead_lettered_at": at,
            "resolved": False,
            "resolved_at": None,
            "resolved_by": "",
            "resolution_note": "",
        }
        received = {"operation": event.operation, "payload": event.payload}
        cls.objects.update_or_create(
            entry_id=entry_id, create_defaults={**reopened, **received}, defaults=reopened
        )


class SyncLog(models.Model):
    """One row per attempt: what was tried, how long it took, what came of it."""

    entry_id = models.BigIntegerField(db_index=True)
    entity = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=16)
    attempt = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    duration_ms = models.DecimalField(max_digits=12, decimal_places=3)
    latency_ms = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True, help_text="Accepted to applied."
    )
    error = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tds_sync_logs"
        indexes = [models.Index(fields=["created_at", "outcome"], name="tds_log_time")]

    def __str__(self) -> str:
        return f"{self.entity} {self.record_id} #{self.attempt} {self.outcome}"


class WorkerHeartbeat(models.Model):
    """Written by every running ``qcluster`` every WORKER_POLL_INTERVAL seconds."""

    name = models.CharField(max_length=128, unique=True)
    host = models.CharField(max_length=128)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField()
    # Set by a graceful stop (systemctl stop, a deploy): a host whose worker stopped on
    # purpose is not "down"; one that went silent (a crash, a power cut) is.
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tds_worker_heartbeats"

    def __str__(self) -> str:
        return self.name


class PurgedTotal(models.Model):
    """What ``tds_purge`` deleted from a history table, summed per running total
    (``syncqueue.totals``), label values and measure: rows kept + this = the total."""

    total = models.CharField(max_length=32)
    labels = models.CharField(max_length=255, help_text="The label values, joined by '|'.")
    measure = models.CharField(max_length=32)
    value = models.DecimalField(max_digits=24, decimal_places=3)

    class Meta:
        db_table = "tds_purged_totals"
        constraints = [
            models.UniqueConstraint(
                fields=["total", "labels", "measure"], name="tds_purged_totals_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.total} {self.labels} {self.measure}: {self.value}"


class RecordHold(models.Model):
    """A record an operator has put on hold: its events are accepted and queued but not
    applied until it is released; every other record keeps flowing."""

    entity = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    held_at = models.DateTimeField(default=timezone.now)
    held_by = models.CharField(max_length=150)
    reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = HOLDS_TABLE
        verbose_name = "held record"
        constraints = [
            models.UniqueConstraint(fields=["entity", "record_id"], name="tds_record_holds_key")
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.record_id} (held by {self.held_by})"


class RecordEffect(models.Model):
    """The effect ledger: what each applied event changed in its ERP row. Compact, and kept
    for LEDGER_RETENTION_DAYS after the queue and inbox rows are purged, so a record's
    timeline still tells its whole story. No foreign keys: it outlives what it names."""

    entity = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    entry_id = models.BigIntegerField(help_text="The queue entry that was applied.")
    inbox_event_id = models.BigIntegerField(
        null=True, blank=True, help_text="The webhook's event id; none for reconciliation."
    )
    operation = models.CharField(max_length=16)
    applied_at = models.DateTimeField()
    changes = models.JSONField(
        help_text='{"column": [before, after], "lines": [summary before, summary after]}: '
        "only what changed; money as exact decimal strings."
    )

    class Meta:
        db_table = "tds_record_effects"
        verbose_name = "record effect"
        indexes = [
            # A record's timeline: its effects in order, from one index range.
            models.Index(fields=["entity", "record_id", "id"], name="tds_effects_record"),
            # The purge walks by age.
            models.Index(fields=["applied_at"], name="tds_effects_applied_at"),
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.record_id} by entry {self.entry_id}"
