"""The worker's PostgreSQL settings while it drains the queue, and how far they reach.

synchronous_commit: a commit returns before PostgreSQL has flushed it to disk. Safe for the
worker, unlike at ingest: an event's ERP rows and its queue status commit together, so a
crash of PostgreSQL can only lose both, and the event is then simply applied again (the
guarded upsert makes that harmless). What a 2xx promised (the inbox row and its queue entry)
is written by the API with full durability.

enable_seqscan, enable_bitmapscan: every statement of the worker reaches its few rows
through one index. Its plans may be made while the ERP tables are still empty (and are
prepared once per connection); such a plan could otherwise scan whole tables once they have
grown, or combine the link index with "product_id IS NULL" (every line of a product not yet
synced) in a bitmap.

lock_timeout: a row of the ERP tables locked by someone else (a report, a person in psql)
makes its event wait that long at most, then step aside (BUSY_RECORD_RETRY_SECONDS)
instead of holding up the rest of its batch, and the records in it, for as long.

idle_in_transaction_session_timeout: a worker frozen inside a transaction (SIGSTOP, a VM
paused, a swap storm) would keep the rows it locked, and the claim skips locked entries: the
records in its batch would wait until it woke. PostgreSQL ends such a session instead; its
leases then run out and other workers take the entries over.

On a direct connection they are set once for the drain's session and put back afterwards
(the same process runs other tasks between drains). Behind PgBouncer in transaction pooling
the session is not the worker's: the next transaction on that server connection may be an
API's ingest, which would then commit without waiting for the disk. There each of the
worker's transactions sets them for itself, and they end with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from tds_site.db import statement_transaction

DRAINING_SETTINGS = {
    "synchronous_commit": "off",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "lock_timeout": "2s",
    "idle_in_transaction_session_timeout": "10s",
}


@contextmanager
def draining_session() -> Iterator[None]:
    """The scope of one drain: on a direct PostgreSQL connection, the session's settings."""
    if not _session_is_ours():
        yield
        return
    set_session_settings()
    try:
        yield
    finally:
        with suppress(DatabaseError), connection.cursor() as cursor:  # a broken connection
            for name in DRAINING_SETTINGS:  # has no settings left to put back
                cursor.execute(f"RESET {name}")


def set_session_settings() -> None:
    """The session's settings, again after a reconnect; none where the session is not ours."""
    if not _session_is_ours():
        return
    _set_config(DRAINING_SETTINGS, local=False)


def _session_is_ours() -> bool:
    return connection.vendor == "postgresql" and not settings.DATABASE_PGBOUNCER


@contextmanager
def draining_transaction() -> Iterator[None]:
    """The scope of one self-contained PostgreSQL statement of the drain, with its settings.

    Directly, the statement is its own transaction (one round trip; the session has the
    settings). Behind PgBouncer, an explicit transaction that sets them first.
    """
    if not settings.DATABASE_PGBOUNCER:
        with statement_transaction():
            yield
        return
    with transaction.atomic():
        set_locally(DRAINING_SETTINGS)
        yield


def settings_per_transaction() -> dict[str, str]:
    """What a transaction of the drain must set for itself (see the module's docstring)."""
    return DRAINING_SETTINGS if settings.DATABASE_PGBOUNCER else {}


def set_locally(values: dict[str, str]) -> None:
    """Settings that end with the current transaction (SET LOCAL), in one round trip."""
    _set_config(values, local=True)


def _set_config(values: dict[str, str], *, local: bool) -> None:
    calls = ", ".join(["set_config(%s, %s, %s)"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {calls}", [part for item in values.items() for part in (*item, local)]
        )
