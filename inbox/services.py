"""``ingest_webhook``: authenticate, parse, and commit an event with its queue entry.

The hot path of TDS Core. It does only what must happen before the 2xx: verify, find the
record id, and write the inbox row and the queue entry in one transaction. On PostgreSQL
that is a single statement; on SQLite, two inside one transaction. Field values are left
for the worker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from urllib.parse import parse_qsl

import psycopg
from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from entities.mappings import WEBHOOK_ENTITIES
from inbox.models import AuthMethod, InboxEvent, Validity
from inbox.payloads import ParsedWebhook, UnusableWebhook, parse_webhook, supported_content_type
from inbox.signatures import verify
from syncqueue.dispatch import request_drain
from syncqueue.models import NewEvent, QueueEntry
from tds_site.async_db import WebhookPool, kept_cursor
from tds_site.db import prepared_values, statement_transaction

logger = logging.getLogger("tds.ingest")

SIGNATURE_HEADER = "x-zoho-webhook-signature"
TOKEN_HEADER = "x-tds-token"
REDACTED = "[redacted]"
# The signature is a credential too: with its body it is all a replay needs.
_SECRET_HEADERS = frozenset(
    {TOKEN_HEADER, SIGNATURE_HEADER, "authorization", "cookie", "proxy-authorization"}
)
_SECRET_PARAMS = frozenset({"token"})


@dataclass(frozen=True)
class WebhookRequest:
    """What ingest needs of an HTTP request, independent of Django's request object."""

    method: str
    path: str
    path_entity: str | None
    query_string: str
    content_type: str
    body: bytes
    headers: dict[str, str]  # lower-case names
    remote_addr: str | None
    request_id: str = ""


@dataclass(frozen=True)
class IngestResult:
    status_code: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


def authenticate(request: WebhookRequest, query: list[tuple[str, str]]) -> str | None:
    """How the request proves it comes from Zoho, or None. Order as in CONTRACT §3."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if signature and verify(
        settings.ZOHO_WEBHOOK_SECRETS,
        signature,
        request.query_string,
        request.content_type,
        request.body,
    ):
        return AuthMethod.SIGNATURE
    expected = settings.WEBHOOK_TOKEN
    if expected:
        given = request.headers.get(TOKEN_HEADER) or dict(query).get("token") or ""
        if hmac.compare_digest(given.encode(), expected.encode()):
            return AuthMethod.TOKEN
    if settings.WEBHOOK_ALLOW_UNSIGNED:
        return AuthMethod.UNSIGNED
    return None


@dataclass(frozen=True)
class UnusableEvent:
    """An authentic webhook that cannot become an event: kept, as rejected, with why."""

    auth_method: str
    reason: str


@dataclass(frozen=True)
class AcceptedEvent:
    """An authentic, usable webhook: its inbox row's values and its queue entry."""

    auth_method: str
    dedup_key: str
    received_at: datetime
    inbox_params: list
    event: NewEvent


# -- the answers of either endpoint before ingest (inbox.views, inbox.asgi), in its order:
# 405, 429, 404, 415, then the body's 400/411/413, then ingest's own, or 503.

WEBHOOK_METHODS = ("POST", "PUT", "DELETE")
RETRY_AFTER_SECONDS = "5"


def method_not_allowed(method: str) -> IngestResult:
    return IngestResult(
        405, {"error": f"method {method} not allowed"}, {"Allow": ", ".join(WEBHOOK_METHODS)}
    )


def rate_limited(wait: float) -> IngestResult:
    return IngestResult(429, {"error": "rate limit exceeded"}, {"Retry-After": str(int(wait))})


def refusal_before_body(entity: str | None, content_type: str) -> IngestResult | None:
    """The 404 of an unknown entity or the 415 of a content type no webhook has."""
    if entity is not None and entity not in WEBHOOK_ENTITIES:
        return IngestResult(404, {"error": f"unknown entity {entity!r}"})
    if not supported_content_type(content_type):
        return IngestResult(
            415, {"error": "use application/json or application/x-www-form-urlencoded"}
        )
    return None


def database_unavailable(error: Exception) -> IngestResult:
    logger.error("database unavailable during ingest: %s", type(error).__name__)
    return IngestResult(
        503, {"error": "database unavailable, retry later"}, {"Retry-After": RETRY_AFTER_SECONDS}
    )


def judge_webhook(request: WebhookRequest) -> IngestResult | UnusableEvent | AcceptedEvent:
    """Everything ingest decides before it writes: who sent it, and what it is. Touches no
    database, so the synchronous and the asynchronous path share it."""
    query = parse_qsl(request.query_string, keep_blank_values=True)
    auth_method = authenticate(request, query)
    if auth_method is None:
        return IngestResult(401, {"error": "missing or invalid webhook signature or token"})
    try:
        parsed = parse_webhook(
            path_entity=request.path_entity,
            method=request.method,
            content_type=request.content_type,
            body=request.body,
            query=query,
            event_header=request.headers.get("x-zoho-event", "").strip(),
            signed=auth_method == AuthMethod.SIGNATURE,
        )
    except UnusableWebhook as error:
        return UnusableEvent(auth_method, str(error))
    return _accepted_event(request, auth_method, parsed)


def ingest_webhook(request: WebhookRequest) -> IngestResult:
    judged = judge_webhook(request)
    if isinstance(judged, IngestResult):
        return judged
    if isinstance(judged, UnusableEvent):
        return reject_webhook(request, judged.auth_method, judged.reason)
    try:
        event_id, created = _store_accepted(judged)
    except DataError as error:
        return reject_webhook(request, judged.auth_method, unstorable_reason(error))
    if created:
        transaction.on_commit(request_drain)
    return accepted_result(event_id, created)


async def ingest_webhook_async(
    request: WebhookRequest, pool: WebhookPool, in_thread: Callable[..., Awaitable]
) -> IngestResult:
    """``ingest_webhook`` on an event loop: the same judgement, the same statement, on
    ``pool``. The rare paths (a webhook kept as rejected) run the synchronous code through
    ``in_thread``."""
    judged = judge_webhook(request)
    if isinstance(judged, IngestResult):
        return judged
    if isinstance(judged, UnusableEvent):
        return await in_thread(reject_webhook, request, judged.auth_method, judged.reason)
    sql, params = store_statement(judged)
    try:
        async with pool.connection() as conn:
            cursor = kept_cursor(conn)
            await cursor.execute(sql, params)
            row = await cursor.fetchone()
            created = row is not None
            if not created:
                await cursor.execute(FIRST_DELIVERY_SQL, [judged.dedup_key])
                row = await cursor.fetchone()
    except psycopg.DataError as error:
        reason = unstorable_reason(error)
        return await in_thread(reject_webhook, request, judged.auth_method, reason)
    if row is None:
        raise RuntimeError("duplicate webhook whose first delivery vanished")
    if created:
        request_drain()  # committed: the statement was its own transaction
    return accepted_result(row[0], created)


def accepted_result(event_id: int, created: bool) -> IngestResult:
    if created:
        return IngestResult(
            202, {"status": "accepted", "event_id": str(event_id), "duplicate": False}
        )
    return IngestResult(200, {"status": "duplicate", "event_id": str(event_id), "duplicate": True})


def unstorable_reason(error: Exception) -> str:
    # Authentic, but holding something the database refuses (a NUL character in the JSON,
    # for one): unusable, kept as rejected if even that can be stored.
    return f"the payload holds a value the database cannot store ({error})"[:500]


def reject_webhook(request: WebhookRequest, auth_method: str, reason: str) -> IngestResult:
    """Keep an authentic but unusable webhook as rejected; answer the 400 that says why."""
    try:
        event_id = _store_rejected(request, auth_method, reason)
    except DataError:
        return IngestResult(400, {"error": reason})
    return IngestResult(400, {"error": reason, "event_id": str(event_id)})


def dedup_key(request: WebhookRequest, parsed: ParsedWebhook) -> str:
    """What makes two deliveries "the same event" (CONTRACT §3), hashed."""
    idempotency_key = request.headers.get("idempotency-key", "").strip()
    if idempotency_key:
        basis = f"key\n{idempotency_key}"
    elif parsed.last_modified:
        parts = (parsed.entity, parsed.record_id, parsed.operation, parsed.last_modified)
        basis = "record\n" + "\n".join(parts)
    else:
        body_hash = hashlib.sha256(request.body).hexdigest()
        basis = f"body\n{parsed.operation}\n{body_hash}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _for_operators(values: dict[str, str], secret_names: frozenset[str]) -> dict[str, str]:
    """The copy of headers or parameters kept in the inbox: secrets redacted, readable."""
    return {
        _readable(k): (REDACTED if k in secret_names else _readable(v)) for k, v in values.items()
    }


def _readable(text: str) -> str:
    # PostgreSQL stores no NUL in text or JSON; the copies kept for operators show U+FFFD.
    return text.replace("\x00", "\ufffd")


def _inbox_values(request: WebhookRequest, auth_method: str) -> dict:
    return {
        "received_at": timezone.now(),
        "content_hash": hashlib.sha256(request.body).hexdigest(),
        "content_type": request.content_type[:128],
        "method": request.method,
        "path": request.path[:255],
        "raw_body": request.body,
        "headers": _for_operators(request.headers, _SECRET_HEADERS),
        "remote_addr": request.remote_addr,
        "auth_method": auth_method,
        "request_id": request.request_id,
    }


def _store_rejected(request: WebhookRequest, auth_method: str, reason: str) -> int:
    values = _inbox_values(request, auth_method)
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    values["params"] = _for_operators(query, _SECRET_PARAMS)
    event = InboxEvent.objects.create(
        validity=Validity.REJECTED,
        rejection_reason=reason,
        entity=request.path_entity or "",
        **values,
    )
    return event.pk


_INBOX_COLUMNS = (
    "received_at",
    "validity",
    "rejection_reason",
    "entity",
    "record_id",
    "operation",
    "event_type",
    "idempotency_key",
    "dedup_key",
    "content_hash",
    "content_type",
    "method",
    "path",
    "raw_body",
    "params",
    "headers",
    "remote_addr",
    "auth_method",
    "request_id",
)
_INBOX = InboxEvent._meta.db_table
_INSERT_INBOX = (
    f"INSERT INTO {_INBOX} ({', '.join(_INBOX_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(_INBOX_COLUMNS))}) "
    f"ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)


def _accepted_event(
    request: WebhookRequest, auth_method: str, parsed: ParsedWebhook
) -> AcceptedEvent:
    values = _inbox_values(request, auth_method)
    key = dedup_key(request, parsed)
    values.update(
        validity=Validity.ACCEPTED,
        rejection_reason="",
        entity=parsed.entity,
        record_id=parsed.record_id,
        operation=parsed.operation,
        event_type=_readable(parsed.event_type),
        idempotency_key=_readable(request.headers.get("idempotency-key", ""))[:255],
        dedup_key=key,
        params=_for_operators(parsed.params, _SECRET_PARAMS),
    )
    return AcceptedEvent(
        auth_method=auth_method,
        dedup_key=key,
        received_at=values["received_at"],
        inbox_params=prepared_values(InboxEvent, _INBOX_COLUMNS, values),
        event=NewEvent(parsed.entity, parsed.record_id, parsed.operation, parsed.record),
    )


def store_statement(accepted: AcceptedEvent) -> tuple[str, list]:
    """PostgreSQL: the inbox row and its queue entry in one statement (one round trip, one
    implicit transaction), returning the new event's id, or no row for a duplicate."""
    enqueue, queue_params = QueueEntry.objects.enqueue_sql(
        accepted.event, accepted.received_at, "event"
    )
    return _store_sql(enqueue), accepted.inbox_params + queue_params


@cache
def _store_sql(enqueue: str) -> str:
    # The same string object every time: psycopg keeps a cursor's adaptation of its
    # parameters' types only while the query is the one it ran last.
    return f"WITH event AS ({_INSERT_INBOX}) {enqueue} RETURNING inbox_event_id"


# A conflict: the first delivery is committed (PostgreSQL waited for it to finish).
FIRST_DELIVERY_SQL = f"SELECT id FROM {_INBOX} WHERE dedup_key = %s"


def _store_accepted(accepted: AcceptedEvent) -> tuple[int, bool]:
    """Write inbox row + queue entry atomically; returns (event id, newly created)."""
    if connection.vendor == "postgresql":
        sql, params = store_statement(accepted)
        with statement_transaction(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_INSERT_INBOX, accepted.inbox_params)
            row = cursor.fetchone()
            if row is not None:
                event = dataclasses.replace(accepted.event, inbox_event_id=row[0])
                QueueEntry.objects.enqueue([event], accepted.received_at)
    if row is not None:
        return row[0], True
    with connection.cursor() as cursor:
        cursor.execute(FIRST_DELIVERY_SQL, [accepted.dedup_key])
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("duplicate webhook whose first delivery vanished")
    return row[0], False
