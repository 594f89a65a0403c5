"""The one generic engine that applies a Zoho event to the ERP tables.

``apply_event`` runs inside the caller's transaction (the queue's, together with its status
change and log row). Each change is one guarded upsert: the database itself refuses an older
``last_modified_time`` than the stored one, and a delete leaves a tombstone that only a newer
change can lift, so stale and out-of-order events can never overwrite newer data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from django.db import connection, models

from entities.fields import FieldValueError, Source, to_timestamp, to_zoho_id
from entities.mappings import BY_ENTITY, Backfill, EntityMapping, Lines, Link, backfills_for

_BASE_COLUMNS = ("zoho_id", "zoho_last_modified", "is_deleted", "deleted_at", "raw", "synced_at")


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    row_id: int | None


def apply_event(entity: str, operation: str, record: dict, now: datetime) -> Applied:
    """Apply one event's record to its ERP table (and lines) and say what happened."""
    mapping = BY_ENTITY[entity]
    if not isinstance(record, dict):
        raise FieldValueError("record", record, "is not a JSON object")
    zoho_id = _record_id(mapping, record)
    last_modified = to_timestamp("last_modified_time", record.get("last_modified_time"))
    if operation == "delete":
        return _delete(mapping, zoho_id, last_modified, record, now)
    return _upsert(mapping, zoho_id, last_modified, record, now)


def _record_id(mapping: EntityMapping, record: dict) -> str:
    value = to_zoho_id(mapping.id_field, record.get(mapping.id_field))
    if value is None:
        raise FieldValueError(mapping.id_field, record.get(mapping.id_field), "is missing")
    return value


def _upsert(
    mapping: EntityMapping,
    zoho_id: str,
    last_modified: datetime | None,
    record: dict,
    now: datetime,
) -> Applied:
    present = tuple(col for col, source in mapping.columns.items() if source.present(record))
    values = _read(mapping.model, mapping.columns, record)
    links = tuple(link for link in mapping.links if link.zoho_column in present)
    sql = _upsert_sql(mapping.entity, present, links)
    base = _record_values(zoho_id, last_modified, record, now, deleted=False)
    params = _params(mapping.model, [*base, *((col, values[col]) for col in mapping.columns)])
    params += [values[link.zoho_column] for link in mapping.links]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return Applied(Outcome.STALE, None)
        row_id = row[0]
        if mapping.lines is not None and mapping.lines.key in record:
            _replace_lines(cursor, mapping.lines, row_id, record[mapping.lines.key])
        backfills = backfills_for(mapping.model)
        if connection.vendor == "postgresql" and len(backfills) > 1:
            # All of them in one round trip (a product fills six line tables).
            cursor.execute(_backfill_sql(mapping.model), [row_id, zoho_id] * len(backfills))
        else:
            for backfill in backfills:
                cursor.execute(_backfill_one_sql(backfill), [row_id, zoho_id])
    return Applied(Outcome.APPLIED, row_id)


def _backfill_one_sql(backfill: Backfill) -> str:
    return (
        f"UPDATE {backfill.table} SET {backfill.fk_column} = %s "
        f"WHERE {backfill.zoho_column} = %s AND {backfill.fk_column} IS NULL"
    )


@cache
def _backfill_sql(model: type[models.Model]) -> str:
    """Every backfill of ``model`` as one PostgreSQL statement (data-modifying CTEs)."""
    parts = [f"b{i} AS ({_backfill_one_sql(b)})" for i, b in enumerate(backfills_for(model))]
    return f"WITH {', '.join(parts)} SELECT 1"


def _delete(
    mapping: EntityMapping,
    zoho_id: str,
    last_modified: datetime | None,
    record: dict,
    now: datetime,
) -> Applied:
    table = mapping.table
    params = _params(
        mapping.model, _record_values(zoho_id, last_modified, record, now, deleted=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(_BASE_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT (zoho_id) DO UPDATE SET is_deleted = excluded.is_deleted, "
            f"deleted_at = COALESCE({table}.deleted_at, excluded.deleted_at), "
            f"raw = excluded.raw, synced_at = excluded.synced_at, "
            f"zoho_last_modified = {_newest(table)} RETURNING id",
            params,
        )
        (row_id,) = cursor.fetchone()
    return Applied(Outcome.APPLIED, row_id)


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


def _newest(table: str) -> str:
    stored, incoming = f"{table}.zoho_last_modified", "excluded.zoho_last_modified"
    return (
        f"CASE WHEN {incoming} IS NULL THEN {stored} WHEN {stored} IS NULL THEN {incoming} "
        f"WHEN {incoming} > {stored} THEN {incoming} ELSE {stored} END"
    )


def _replace_lines(cursor: Any, lines: Lines, parent_id: int, items: Any) -> None:
    if not isinstance(items, list):
        raise FieldValueError(lines.key, items, "is not a list")
    table = lines.model._meta.db_table
    cursor.execute(f"DELETE FROM {table} WHERE {lines.parent_column} = %s", [parent_id])
    if not items:
        return
    rows_sql, params = [], []
    row_sql = _line_row_sql(lines)
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise FieldValueError(f"{lines.key}[{position}]", item, "is not an object")
        try:
            values = _read(lines.model, lines.columns, item)
        except FieldValueError as error:
            raise FieldValueError(
                f"{lines.key}[{position}].{error.field}", error.value, error.reason
            ) from None
        params += _params(
            lines.model,
            [(lines.parent_column, parent_id), ("position", position), *values.items()],
        )
        params += [values[link.zoho_column] for link in lines.links]
        rows_sql.append(row_sql)
    columns = [lines.parent_column, "position", *lines.columns, *_fk_columns(lines.links)]
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(rows_sql)}", params
    )


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
    return [fields[name].get_db_prep_save(value, connection) for name, value in pairs]


@cache
def _fields(model: type[models.Model]) -> dict[str, models.Field]:
    return {f.column: f for f in model._meta.concrete_fields}


def _fk_columns(links: tuple[Link, ...]) -> list[str]:
    return [link.fk_column for link in links]


def _lookup_sql(link: Link) -> str:
    return f"(SELECT id FROM {link.target._meta.db_table} WHERE zoho_id = %s)"


@cache
def _line_row_sql(lines: Lines) -> str:
    placeholders = ["%s"] * (2 + len(lines.columns)) + [_lookup_sql(link) for link in lines.links]
    return f"({', '.join(placeholders)})"


@cache
def _upsert_sql(entity: str, present: tuple[str, ...], links: tuple[Link, ...]) -> str:
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
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(placeholders)}) "
        f"ON CONFLICT (zoho_id) DO UPDATE SET {', '.join(assignments)} "
        f"WHERE {guard} RETURNING id"
    )
