"""Small database helpers shared by the apps."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def statement_transaction() -> AbstractContextManager:
    """The scope of one self-contained statement.

    In autocommit mode the statement is its own transaction. Inside a caller's transaction
    a savepoint keeps a refused statement from aborting the caller's work.
    """
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def prepared_values(model: type[models.Model], columns: tuple[str, ...], values: dict) -> list:
    """``values`` of ``columns`` converted for the database, as the ORM's INSERT would.

    A value given for several columns of one kind (the moment stamped on four) is converted
    once.
    """
    wrapper = _converting_wrapper()
    converted: dict[tuple[type, int], object] = {}
    prepared = []
    for column, field in zip(columns, _preparing_fields(model, columns), strict=True):
        value = values[column]
        if field is not None:
            key = (type(field), id(value))
            if key not in converted:
                converted[key] = field.get_db_prep_save(value, wrapper)
            value = converted[key]
        prepared.append(value)
    return prepared


# Fields whose database value is the Python value itself (str, int and bool), skipped on
# the hot path of ingest.
_AS_IS = (models.CharField, models.TextField, models.BooleanField, models.PositiveIntegerField)


@cache
def _preparing_fields(model: type[models.Model], columns: tuple[str, ...]) -> tuple:
    """Per column, the field that converts its value, or None where nothing needs doing."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    return tuple(None if type(fields[c]) in _AS_IS else fields[c] for c in columns)


@cache
def _converting_wrapper() -> BaseDatabaseWrapper:
    """A connection wrapper for its conversions alone (no query is made through it), found
    once: ``connection`` is a proxy that looks it up again on every use, and on an event
    loop Django keeps one per task, built anew for each webhook."""
    return connections[DEFAULT_DB_ALIAS]
