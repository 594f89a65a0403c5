"""What an applied change did to its ERP row: the columns it changed, from what to what.

The effect ledger (``syncqueue.RecordEffect``) keeps one such ``changes`` object per applied
event: ``{"column": [before, after], ..., "lines": [summary before, summary after]}``, only
for what changed. Values are JSON-exact: money as decimal strings, days as ISO dates. Lines
are summarised (their count and the sum of each money column), not copied.

On PostgreSQL the changes are computed inside the event's one statement: a ``before`` CTE
reads the row as it was (a data-modifying statement's CTEs all see the same snapshot), and
``changes_sql`` compares it with what the upsert returned. Elsewhere, and for a dry run,
``snapshot`` reads the row before and after and ``diff`` compares them in Python; both
sides follow the same rules, and the suite runs the same tests on each.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import models
from django.db.models import Count, Sum

from entities.mappings import EntityMapping, Lines

LINES = "lines"
BEFORE = "before"
Snapshot = dict[str, Any] | None  # tracked column -> JSON value, plus "lines"; None: no row


def tracked_columns(mapping: EntityMapping) -> tuple[str, ...]:
    """The columns whose changes are kept: the mapped ones and the tombstone. The raw
    payload, the version and the sync time change with every event: only noise here."""
    return ("is_deleted", *mapping.columns)


@cache
def summed_columns(lines: Lines) -> tuple[str, ...]:
    fields = {f.column: f for f in lines.model._meta.concrete_fields}
    return tuple(c for c in lines.columns if isinstance(fields[c], models.DecimalField))


# PostgreSQL


@cache
def before_sql(mapping: EntityMapping) -> str:
    """The ``before`` CTE's query (one parameter: the Zoho id)."""
    columns = [f"t.{c}" for c in ("id", *tracked_columns(mapping))]
    lines = mapping.lines
    if lines is not None:
        parent = f"FROM {lines.model._meta.db_table} WHERE {lines.parent_column} = t.id"
        columns.append(f"(SELECT {_summary_sql(lines, '')} {parent}) AS {LINES}")
    return f"SELECT {', '.join(columns)} FROM {mapping.table} t WHERE t.zoho_id = %s"


@cache
def changes_sql(mapping: EntityMapping, written: str, new_lines: str | None) -> str:
    """A jsonb expression of the changes, over ``written`` (the upsert's RETURNING) and
    ``before`` (left-joined); ``new_lines`` names the CTE of the lines inserted, if the
    change replaced the lines ("" when it replaced them with none)."""
    fields = {f.column: f for f in mapping.model._meta.concrete_fields}
    pairs = []
    for column in tracked_columns(mapping):
        old, new = f"{BEFORE}.{column}", f"{written}.{column}"
        pairs.append(
            f"'{column}', CASE WHEN {old} IS DISTINCT FROM {new} THEN jsonb_build_array("
            f"{_json_sql(fields[column], old)}, {_json_sql(fields[column], new)}) END"
        )
    if mapping.lines is not None and new_lines is not None:
        lines = mapping.lines
        if new_lines:
            after = f"(SELECT {_summary_sql(lines, '')} FROM {new_lines})"
        else:
            after = "jsonb_build_object('count', 0)"
        old, new = f"jsonb_strip_nulls({BEFORE}.{LINES})", f"jsonb_strip_nulls({after})"
        pairs.append(
            f"'{LINES}', CASE WHEN {old} IS DISTINCT FROM {new} "
            f"THEN jsonb_build_array({old}, {new}) END"
        )
    return f"jsonb_strip_nulls(jsonb_build_object({', '.join(pairs)}))"


def _summary_sql(lines: Lines, prefix: str) -> str:
    sums = "".join(f", '{c}', sum({prefix}{c})::text" for c in summed_columns(lines))
    return f"jsonb_build_object('count', count(*){sums})"


def _json_sql(field: models.Field, value: str) -> str:
    # numeric would become a JSON number, which readers take through binary floats
    if isinstance(field, models.DecimalField):
        return f"to_jsonb({value}::text)"
    return f"to_jsonb({value})"


# Python (SQLite, dry runs)


def snapshot(mapping: EntityMapping, zoho_id: str) -> Snapshot:
    """The row's tracked values (and lines summary) as the ledger writes them."""
    columns = tracked_columns(mapping)
    row = mapping.model.objects.filter(zoho_id=zoho_id).values("id", *columns).first()
    if row is None:
        return None
    fields = {f.column: f for f in mapping.model._meta.concrete_fields}
    taken = {c: _json_value(fields[c], row[c]) for c in columns}
    if mapping.lines is not None:
        taken[LINES] = _lines_summary(mapping.lines, row["id"])
    return taken


def diff(before: Snapshot, after: Snapshot, lines_replaced: bool) -> dict[str, list[Any]]:
    """The changes from ``before`` to ``after``, as ``changes_sql`` computes them."""
    old = before or {}
    new = after or {}
    changes: dict[str, list[Any]] = {}
    for column in new.keys() | old.keys():
        if column == LINES:
            continue
        if old.get(column) != new.get(column):
            changes[column] = [old.get(column), new.get(column)]
    if lines_replaced and LINES in new and old.get(LINES) != new[LINES]:
        changes[LINES] = [old.get(LINES), new[LINES]]
    return changes


def _lines_summary(lines: Lines, parent_id: int) -> dict[str, Any]:
    fields = {f.column: f for f in lines.model._meta.concrete_fields}
    sums = {c: Sum(c) for c in summed_columns(lines)}
    found = lines.model.objects.filter(**{lines.parent_column: parent_id}).aggregate(
        count=Count("pk"), **sums
    )
    summary = {"count": found["count"]}
    for column in sums:
        if found[column] is not None:  # as jsonb_strip_nulls leaves it
            summary[column] = _json_value(fields[column], found[column])
    return summary


def _json_value(field: models.Field, value: Any) -> Any:
    if isinstance(field, models.DecimalField) and value is not None:
        return str(Decimal(value).quantize(Decimal(1).scaleb(-field.decimal_places)))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
