"""Small database helpers shared by the apps."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def statement_transaction() -> AbstractContextManager:
    """The scope of one self-contained statement.

    In autocommit mode the statement is its own transaction. Inside a caller's transaction
    a savepoint keeps a refused statement from aborting the caller's work.
    """
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
