"""The one generic engine that applies a Zoho event to the ERP tables.

``plan_event`` checks and converts an event's record into an ``EventWrite``: the SQL of the
change and its parameters, before anything touches the database. Each change is one
guarded upsert: the database itself refuses an older ``last_modified_time`` than the stored
one, and a delete leaves a tombstone that only a newer change can lift, so stale and
out-of-order events can never overwrite newer data.

On PostgreSQL the whole change (record, lines, backfilled links) is one statement of
data-modifying CTEs, and the worker adds the queue's status and log row to that same
statement (``EventWrite.ctes``): an event costs one round trip. Elsewhere (SQLite) the
steps run one by one inside the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from entities import effects
from entities.accounting import totals_mismatch
from entities.fields import FieldValueError, Source, to_timestamp, to_zoho_id
from entities.mappings import BY_ENTITY, Backfill, EntityMapping, Lines, Link, backfills_for
from entities.models import DocumentMismatch

_BASE_COLUMNS = ("zoho_id", "zoho_last_modified", "is_deleted", "deleted_at", "raw", "synced_at")
_MISMATCHES = DocumentMismatch._meta.db_table
# The CTE that yields the written row's id; it yields nothing when the change is stale.
WRITTEN = "written"


@dataclass(frozen=True)
class Written:
    """What a change did: the ERP row it wrote, or None when the row already holds a newer
    version (the change is stale)."""

    row_id: int | None

    @property
    def stale(self) -> bool:
        return self.row_id is None


@dataclass(frozen=True)
class EventWrite:
    """One event's change, checked and converted, ready to run."""

    mapping: EntityMapping
    zoho_id: str
    deleted: bool
    present: tuple[str, ...]  # the columns the record carries: sparse payloads change no more
    links: tuple[Link, ...]  # the links among them
    record_params: list[Any]
    lines: list[list[Any]] | None  # each line's parameters; None leaves the lines alone
    dated: bool  # carries last_modified_time; undated changes are ordered by arrival alone
    # A document's totals check: why it does not add up (None: it does, or nothing to check)
    mismatch: str | None = None
    at: datetime | None = None  # when the change was planned: the mismatch's detected_at

    def run(self) -> Written:
        """Apply the change inside the caller's transaction."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                ctes, params = self.ctes()
                cursor.execute(f"WITH {ctes} SELECT id FROM {WRITTEN}", params)
                row = cursor.fetchone()
                return Written(row[0] if row else None)
            return self._run_step_by_step(cursor)

    def run_with_changes(self) -> tuple[Written, dict[str, list[Any]] | None]:
        """Apply the change inside the caller's transaction and say what it changed (None
        when stale), reading the row before and after: for SQLite and dry runs."""
        before = effects.snapshot(self.mapping, self.zoho_id)
        written = self.run()
        if written.stale:
            return written, None
        after = effects.snapshot(self.mapping, self.zoho_id)
        return written, effects.diff(before, after, lines_replaced=self.lines is not None)

    def ctes(self, gate: str | None = None, before: bool = False) -> tuple[str, list[Any]]:
        """The change as PostgreSQL CTEs, the written row in ``WRITTEN``, and their parameters.

        With a ``gate`` (the name of a CTE), nothing is written unless the gate yields a row:
        the worker's gate is its still-valid lease on the queue entry. With ``before``, the
        row as it was is in ``effects.BEFORE``, for ``changes_sql``.
        """
        parts = [f"{WRITTEN} AS ({self._record_sql(gate)})"]
        params = list(self.record_params)
        if before:
            parts.insert(0, f"{effects.BEFORE} AS ({effects.before_sql(self.mapping)})")
            params.insert(0, self.zoho_id)
        lines = self.mapping.lines
        if lines is not None and self.lines is not None:
            parts.append(
                f"old_lines AS (DELETE FROM {_table(lines.model)} "
                f"WHERE {lines.parent_column} IN (SELECT id FROM {WRITTEN}))"
            )
            if self.lines:
                parts.append(f"new_lines AS ({_lines_sql(lines, len(self.lines), WRITTEN)})")
                params += [value for line in self.lines for value in line]
        for index, backfill in enumerate(self._backfills()):
            parts.append(
                f"backfill_{index} AS (UPDATE {backfill.table} SET {backfill.fk_column} = "
                f"{WRITTEN}.id FROM {WRITTEN} WHERE {backfill.table}.{backfill.zoho_column} = %s "
                f"AND {backfill.table}.{backfill.fk_column} IS NULL)"
            )
            params.append(self.zoho_id)
        flag = self._mismatch_sql()
        if flag is not None:
            parts.append(f"mismatch AS ({flag[0].format(written=WRITTEN)})")
            params += flag[1]
        return ", ".join(parts), params

    def changes_sql(self) -> str:
        """With ``ctes(before=True)``: a jsonb expression of what the change did, over
        ``WRITTEN`` left-joined to ``effects.BEFORE``."""
        if self.lines is None:  # the lines were left alone
            return effects.changes_sql(self.mapping, WRITTEN, None)
        return effects.changes_sql(self.mapping, WRITTEN, "new_lines" if self.lines else "")

    def _run_step_by_step(self, cursor: Any) -> Written:
        cursor.execute(self._record_sql(gate=None), self.record_params)
        row = cursor.fetchone()
        if row is None:
            return Written(None)
        row_id = row[0]
        lines = self.mapping.lines
        if lines is not None and self.lines is not None:
            table = _table(lines.model)
            cursor.execute(f"DELETE FROM {table} WHERE {lines.parent_column} = %s", [row_id])
            if self.lines:
                params = [value for line in self.lines for value in (row_id, *line)]
                cursor.execute(_lines_sql(lines, len(self.lines), None), params)
        for backfill in self._backfills():
            cursor.execute(
                f"UPDATE {backfill.table} SET {backfill.fk_column} = %s "
                f"WHERE {backfill.zoho_column} = %s AND {backfill.fk_column} IS NULL",
                [row_id, self.zoho_id],
            )
        flag = self._mismatch_sql()
        if flag is not None:
            # Reached only once the row is written: the CTE's row is stood in for.
            cursor.execute(flag[0].format(written="(SELECT 1) AS written_row"), flag[1])
        return Written(row_id)

    def _mismatch_sql(self) -> tuple[str, list[Any]] | None:
        """Record or clear the document's totals mismatch, once the change is written
        (``{written}`` stands for the written row's CTE). A sparse update without its
        lines leaves the flag as it was."""
        if not self.mapping.checks_totals or (self.lines is None and not self.deleted):
            return None
        key = [self.mapping.entity, self.zoho_id]
        if self.mismatch is None:
            return (
                f"DELETE FROM {_MISMATCHES} WHERE entity = %s AND record_id = %s "
                "AND EXISTS (SELECT 1 FROM {written})",
                key,
            )
        return (
            f"INSERT INTO {_MISMATCHES} (entity, record_id, reason, detected_at) "
            # WHERE TRUE: SQLite would read ON CONFLICT as a join's ON without it.
            "SELECT %s, %s, %s, %s FROM {written} WHERE TRUE ON CONFLICT (entity, record_id) "
            "DO UPDATE SET reason = excluded.reason, detected_at = excluded.detected_at",
            [*key, self.mismatch, _params(DocumentMismatch, [("detected_at", self.at)])[0]],
        )

    def _record_sql(self, gate: str | None) -> str:
        if self.deleted:
            return _delete_sql(self.mapping.entity, gate)
        return _upsert_sql(self.mapping.entity, self.present, self.links, gate)

    def _backfills(self) -> tuple[Backfill, ...]:
        return () if self.deleted else backfills_for(self.mapping.model)


def apply_event(entity: str, operation: str, record: dict, now: datetime) -> Written:
    """Apply one event's record to its ERP table (and lines) and say what happened."""
    return plan_event(entity, operation, record, now).run()


def plan_event(entity: str, operation: str, record: dict, now: datetime) -> EventWrite:
    """Check and convert one event's record; raises ``FieldValueError`` naming the field."""
    mapping = BY_ENTITY[entity]
    if not isinstance(record, dict):
        raise FieldValueError("record", record, "is not a JSON object")
    zoho_id = _record_id(mapping, record)
    last_modified = to_timestamp("last_modified_time", record.get("last_modified_time"))
    deleted = operation == "delete"
    base = _record_values(zoho_id, last_modified, record, now, deleted=deleted)
    if deleted:
        params = _params(mapping.model, base)
        return EventWrite(mapping, zoho_id, True, (), (), params, None, last_modified is not None)
    present = tuple(col for col, source in mapping.columns.items() if source.present(record))
    values = _read(mapping.model, mapping.columns, record)
    params = _params(mapping.model, [*base, *((col, values[col]) for col in mapping.columns)])
    params += [values[link.zoho_column] for link in mapping.links]
    lines = None
    if mapping.lines is not None and mapping.lines.key in record:
        lines = _line_params(mapping.lines, record[mapping.lines.key])
    return EventWrite(
        mapping=mapping,
        zoho_id=zoho_id,
        deleted=False,
        present=present,
        links=tuple(link for link in mapping.links if link.zoho_column in present),
        record_params=params,
        lines=lines,
        dated=last_modified is not None,
        mismatch=totals_mismatch(record) if mapping.checks_totals else None,
        at=now,
    )


def _record_id(mapping: EntityMapping, record: dict) -> str:
    value = to_zoho_id(mapping.id_field, record.get(mapping.id_field))
    if value is None:
        raise FieldValueError(mapping.id_field, record.get(mapping.id_field), "is missing")
    return value


def _record_values(
    zoho_id: str, last_modified: datetime | None, record: dict, now: datetime, *, deleted: bool
) -> list[tuple[str, Any]]:
    """The columns every ERP record has, in the order of ``_BASE_COLUMNS``."""
    return [
        ("zoho_id", zoho_id),
        ("zoho_last_modified", last_modified),
        ("is_deleted", deleted),
        ("deleted_at", now if deleted else None),
        ("raw", record),
        ("synced_at", now),
    ]


def _line_params(lines: Lines, items: Any) -> list[list[Any]]:
    """Each line's parameters: position, columns, then the Zoho ids its links look up."""
    if not isinstance(items, list):
        raise FieldValueError(lines.key, items, "is not a list")
    rows = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise FieldValueError(f"{lines.key}[{position}]", item, "is not an object")
        try:
            values = _read(lines.model, lines.columns, item)
        except FieldValueError as error:
            raise FieldValueError(
                f"{lines.key}[{position}].{error.field}", error.value, error.reason
            ) from None
        row = _params(lines.model, [("position", position), *values.items()])
        rows.append(row + [values[link.zoho_column] for link in lines.links])
    return rows


def _read(model: type[models.Model], columns: dict[str, Source], record: dict) -> dict[str, Any]:
    """Every column's value from the record, refusing text longer than its column."""
    fields = _fields(model)
    values = {}
    for column, source in columns.items():
        value = source.read(record)
        limit = fields[column].max_length
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise FieldValueError(source.field, value, f"is longer than {limit} characters")
        values[column] = value
    return values


def _params(model: type[models.Model], pairs: list[tuple[str, Any]]) -> list[Any]:
    fields = _fields(model)
    # The wrapper itself: ``connection`` is a proxy that looks it up again on every use, and
    # each field's conversion uses it several times (a tenth of the worker's CPU).
    wrapper = connections[DEFAULT_DB_ALIAS]
    return [fields[name].get_db_prep_save(value, wrapper) for name, value in pairs]


@cache
def _fields(model: type[models.Model]) -> dict[str, models.Field]:
    return {f.column: f for f in model._meta.concrete_fields}


def _table(model: type[models.Model]) -> str:
    return model._meta.db_table


def _fk_columns(links: tuple[Link, ...]) -> list[str]:
    return [link.fk_column for link in links]


def _lookup_sql(link: Link) -> str:
    return f"(SELECT id FROM {_table(link.target)} WHERE zoho_id = %s)"


def _values_source(placeholders: list[str], gate: str | None) -> str:
    """VALUES, or with a gate a SELECT that yields the row only when the gate does."""
    if gate is None:
        return f"VALUES ({', '.join(placeholders)})"
    # PostgreSQL types these parameters from the INSERT's columns, as it does in VALUES.
    return f"SELECT {', '.join(placeholders)} FROM {gate}"


@cache
def _upsert_sql(
    entity: str, present: tuple[str, ...], links: tuple[Link, ...], gate: str | None
) -> str:
    mapping = BY_ENTITY[entity]
    table = mapping.table
    columns = [*_BASE_COLUMNS, *mapping.columns, *_fk_columns(mapping.links)]
    placeholders = ["%s"] * (len(_BASE_COLUMNS) + len(mapping.columns)) + [
        _lookup_sql(link) for link in mapping.links
    ]
    updated = ["is_deleted", "deleted_at", "raw", "synced_at", *present, *_fk_columns(links)]
    assignments = [f"{col} = excluded.{col}" for col in updated]
    assignments.append(
        f"zoho_last_modified = COALESCE(excluded.zoho_last_modified, {table}.zoho_last_modified)"
    )
    stored, incoming = f"{table}.zoho_last_modified", "excluded.zoho_last_modified"
    # Live rows take equal-or-newer changes (and undated ones, in arrival order). A deleted
    # row only comes back for a change provably newer than the delete: newer than the last
    # version we saw and than the moment the delete reached us (an undated delete carries
    # no time of its own, and an update that Zoho made before it can still arrive late).
    guard = (
        f"({table}.is_deleted = FALSE AND ({stored} IS NULL OR {incoming} IS NULL "
        f"OR {incoming} >= {stored})) "
        f"OR ({table}.is_deleted = TRUE AND {incoming} > {stored} "
        f"AND {incoming} > {table}.deleted_at)"
    )
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {_values_source(placeholders, gate)} "
        f"ON CONFLICT (zoho_id) DO UPDATE SET {', '.join(assignments)} "
        f"WHERE {guard} RETURNING {_returning(mapping)}"
    )


@cache
def _delete_sql(entity: str, gate: str | None) -> str:
    table = BY_ENTITY[entity].table
    stored, incoming = f"{table}.zoho_last_modified", "excluded.zoho_last_modified"
    newest = (
        f"CASE WHEN {incoming} IS NULL THEN {stored} WHEN {stored} IS NULL THEN {incoming} "
        f"WHEN {incoming} > {stored} THEN {incoming} ELSE {stored} END"
    )
    source = _values_source(["%s"] * len(_BASE_COLUMNS), gate)
    return (
        f"INSERT INTO {table} ({', '.join(_BASE_COLUMNS)}) {source} "
        f"ON CONFLICT (zoho_id) DO UPDATE SET is_deleted = excluded.is_deleted, "
        f"deleted_at = COALESCE({table}.deleted_at, excluded.deleted_at), "
        f"raw = excluded.raw, synced_at = excluded.synced_at, "
        f"zoho_last_modified = {newest} RETURNING {_returning(BY_ENTITY[entity])}"
    )


def _returning(mapping: EntityMapping) -> str:
    """The written row's id, and what the effect ledger compares with the row before."""
    return ", ".join(("id", *effects.tracked_columns(mapping)))


@cache
def _lines_sql(lines: Lines, count: int, parent: str | None) -> str:
    """Insert ``count`` lines: the parent's id as a parameter, or from the ``parent`` CTE."""
    columns = [lines.parent_column, "position", *lines.columns, *_fk_columns(lines.links)]
    lookups = [_lookup_sql(link) for link in lines.links]
    head = f"INSERT INTO {_table(lines.model)} ({', '.join(columns)})"
    if parent is None:
        row = f"({', '.join(['%s'] * (2 + len(lines.columns)) + lookups)})"
        return f"{head} VALUES {', '.join([row] * count)}"
    # A VALUES list joined to the parent is typed on its own, not from the INSERT's
    # columns, so each parameter names its type.
    fields = _fields(lines.model)
    typed = [f"%s::{_sql_type(fields[c])}" for c in ("position", *lines.columns)]
    row = f"({', '.join(typed + lookups)})"
    summed = ", ".join(("position", *effects.summed_columns(lines)))
    return (
        f"{head} SELECT {parent}.id, v.* FROM {parent}, (VALUES {', '.join([row] * count)}) v "
        f"RETURNING {summed}"
    )


def _sql_type(field: models.Field) -> str:
    """The column's type without its size: the INSERT still checks lengths and scales."""
    return re.sub(r"\(.*\)$", "", field.db_type(connection) or "")
