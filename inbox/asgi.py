"""The webhook endpoint on the event loop: read the HTTP request, ``ingest_webhook_async``,
answer.

The API serves ASGI (uvicorn's HTTP parser in C under gunicorn, deploy/gunicorn.conf.py).
Webhooks are the hot path: this app answers them without Django's request cycle, which was
a third of a webhook's CPU, and stores each with one statement on an asynchronous pool.
Everything else goes to the Django application (``tds_site.asgi``), which answers it
exactly as before: another method (405), a path this app does not route (``serves``), and a
plain-HTTP webhook that production redirects (handed to ``site``).

Its answers and their order are those of ``inbox.views.ZohoWebhookView`` (which Django's
test client and the OpenAPI document use), both built by ``inbox.services``: 429, 404, 415,
400/413 for the body, then ingest's (401, 400, 200, 202), 503 while the database is
unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, JsonResponse
from django.middleware.security import SecurityMiddleware

from inbox.body import content_length, too_large
from inbox.services import (
    WEBHOOK_METHODS,
    IngestResult,
    WebhookRequest,
    database_unavailable,
    ingest_webhook,
    ingest_webhook_async,
    rate_limited,
    refusal_before_body,
)
from inbox.throttling import FullBatch, count_hit
from tds_site.addresses import client_of
from tds_site.async_db import WebhookPool, uses_postgresql
from tds_site.logging import request_id_var
from tds_site.middleware import request_id_for

logger = logging.getLogger("tds.ingest")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WEBHOOK_ROOT = "/webhooks/zoho"
DATABASE_ERRORS = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OperationalError,
    InterfaceError,
)


class WebhookApp:
    """ASGI: ``/webhooks/zoho/`` and ``/webhooks/zoho/<entity>/`` (either slash)."""

    def __init__(self, site: ASGIApp) -> None:
        self.site = site  # answers what this app leaves to Django
        self.pool = WebhookPool() if uses_postgresql() else None

    async def open(self) -> None:
        if self.pool is not None:
            await self.pool.open()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def serves(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] in WEBHOOK_METHODS
            and _route(scope["path"]) is not False
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        secure = _is_secure(scope, headers)
        if settings.SECURE_SSL_REDIRECT and not secure:
            # SecurityMiddleware's redirect (production, plain HTTP) stays Django's.
            await self.site(scope, receive, send)
            return
        request_id = request_id_for(headers.get("x-request-id", ""))
        token = request_id_var.set(request_id)
        try:
            result = await self._answer(scope, receive, headers, request_id)
        except DATABASE_ERRORS as error:
            result = database_unavailable(error)
        except _ClientGone:
            request_id_var.reset(token)
            return
        except Exception:  # a defect: logged with its trace, answered in JSON as the rest
            logger.exception("webhook failed")
            result = IngestResult(500, {"error": "internal error"})
        try:
            await _send_json(send, result, request_id, secure)
        finally:  # after the answer: the server's access line carries the id too
            request_id_var.reset(token)

    async def _answer(
        self, scope: Scope, receive: Receive, headers: dict[str, str], request_id: str
    ) -> IngestResult:
        remote_addr = client_of(
            scope["client"][0] if scope.get("client") else None,
            headers.get("x-forwarded-for", ""),
        )
        verdict = count_hit(remote_addr or "unknown")
        if isinstance(verdict, FullBatch):
            verdict = verdict.settle(await in_thread(verdict.count_shared))
        if verdict is not None:
            return rate_limited(verdict)
        entity = _route(scope["path"])
        content_type = headers.get("content-type", "")
        refusal = refusal_before_body(entity, content_type)
        if refusal is not None:
            return refusal
        body = await _read_body(receive, headers, settings.WEBHOOK_MAX_BODY_BYTES)
        if isinstance(body, IngestResult):
            return body
        request = WebhookRequest(
            method=scope["method"],
            path=(settings.FORCE_SCRIPT_NAME or "") + scope["path"],
            path_entity=entity,
            query_string=scope["query_string"].decode("latin-1"),
            content_type=content_type,
            body=body,
            headers=headers,
            remote_addr=remote_addr,
            request_id=request_id,
        )
        if self.pool is None:  # SQLite: Django's connection, in a thread
            return await in_thread(ingest_webhook, request)
        return await ingest_webhook_async(request, self.pool, in_thread)


async def in_thread(function: Callable, *args: Any) -> Any:
    """``function`` in a thread of the loop's executor. Its Django connection is closed
    afterwards (a pooled one given back): these are the rare paths, and an executor's
    thread would otherwise hold a connection for as long as it lives."""

    def run() -> Any:
        try:
            return function(*args)
        finally:
            connections.close_all()

    return await asyncio.get_running_loop().run_in_executor(None, run)


class _ClientGone(Exception):
    """The client went away before its body arrived: nothing to answer, nothing stored."""


def _route(path: str) -> str | bool | None:
    """The entity a webhook path names, None for the generic one, False for no webhook."""
    rest = path.removeprefix(WEBHOOK_ROOT)
    if rest == path:
        return False
    if rest in ("", "/"):
        return None
    entity = rest[1:].removesuffix("/") if rest.startswith("/") else ""
    return entity if entity and "/" not in entity else False


def _headers(scope: Scope) -> dict[str, str]:
    """Lower-case names; a repeated header joined with commas, as WSGI servers do."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _is_secure(scope: Scope, headers: dict[str, str]) -> bool:
    """``HttpRequest.is_secure``: the proxy's header when SECURE_PROXY_SSL_HEADER names
    one and it is there, else the connection's scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = headers.get(meta_name.removeprefix("HTTP_").replace("_", "-").lower())
        if value is not None:
            return value.split(",")[0].strip() == secure_value
    return scope.get("scheme") == "https"


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes | IngestResult:
    """The whole body, never more than ``limit`` bytes of it read (as ``inbox.body``)."""
    length = content_length(headers.get("content-length"))
    if length is None:
        return IngestResult(400, {"error": "invalid Content-Length"})
    if length > limit:
        return _too_large(limit)
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # a chunked body has no length to refuse it by beforehand
            return _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _too_large(limit: int) -> IngestResult:
    refused = too_large(limit)
    return IngestResult(refused.status_code, {"error": refused.reason})


async def _send_json(send: Send, result: IngestResult, request_id: str, secure: bool) -> None:
    body = json.dumps(result.body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        *_security_headers(secure),
        *((name.lower().encode(), value.encode()) for name, value in result.headers.items()),
    ]
    await send({"type": "http.response.start", "status": result.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Probe(HttpRequest):
    def __init__(self, secure: bool) -> None:
        super().__init__()
        self.secure = secure

    def is_secure(self) -> bool:
        return self.secure


@cache
def _security_headers(secure: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers Django's SecurityMiddleware adds to a JSON answer (nosniff, referrer
    policy, HSTS over HTTPS...): asked of it once per process, so it stays their owner."""
    middleware = SecurityMiddleware(lambda request: JsonResponse({}))
    response = middleware.process_response(_Probe(secure), JsonResponse({}))
    return tuple(
        (name.lower().encode(), value.encode())
        for name, value in response.items()
        if name.lower() not in ("content-type", "content-length")
    )
