"""The webhook endpoint on the event loop (``inbox.asgi``) answers as the Django view does.

Each request goes through the whole ASGI application (``tds_site.asgi``) in process, its
pool on the test database: PostgreSQL's asynchronous path or, on SQLite, Django's
connection in a thread. The live suites (tests/e2e, tests/deploy, tests/faults) run the
same application under gunicorn's uvicorn workers.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from django.db import connection

from inbox import asgi
from inbox.models import InboxEvent, Validity
from syncqueue.models import QueueEntry
from tds_site import async_db
from tds_site.asgi import Application
from tests.support import FIXTURES, TOKEN

pytestmark = pytest.mark.django_db(transaction=True)  # the pool commits on its own

INVOICE = (FIXTURES / "invoice.json").read_bytes()
URL = "/webhooks/zoho/invoices/"
JSON = {"Content-Type": "application/json"}
WITH_TOKEN = {**JSON, "X-TDS-Token": TOKEN}


def send(method: str, path: str, body: bytes = b"", headers: dict | None = None):
    return send_all([(method, path, body, headers or {})])[0]


def send_all(requests: list[tuple]) -> list[httpx.Response]:
    """The requests in turn through one application, opened and closed as a worker does."""

    async def run() -> list[httpx.Response]:
        app = Application()
        await app.webhooks.open()
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return [await c.request(m, p, content=b, headers=h) for m, p, b, h in requests]
        finally:
            await app.webhooks.close()

    return asyncio.run(run())


def test_an_accepted_webhook_is_committed_with_its_queue_entry_before_the_202():
    response = send("POST", URL, INVOICE, {**WITH_TOKEN, "X-Request-ID": "abc-123"})
    assert response.status_code == 202
    answer = response.json()
    assert answer["status"] == "accepted" and answer["duplicate"] is False
    event = InboxEvent.objects.get(pk=answer["event_id"])
    assert event.validity == Validity.ACCEPTED
    assert event.entity == "invoices" and event.record_id == "2851937000000052033"
    assert event.remote_addr == "10.1.2.3"
    assert event.request_id == "abc-123"
    assert event.headers["x-tds-token"] == "[redacted]"
    assert bytes(event.raw_body) == INVOICE
    entry = QueueEntry.objects.get(inbox_event_id=event.pk)
    assert entry.payload["invoice_id"] == "2851937000000052033"
    assert entry.status == "pending"
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"  # SecurityMiddleware's
    assert response.headers["referrer-policy"] == "same-origin"


def test_the_same_event_again_is_a_200_naming_the_first():
    first, again = send_all([("POST", URL, INVOICE, WITH_TOKEN)] * 2)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == {
        "status": "duplicate",
        "event_id": first.json()["event_id"],
        "duplicate": True,
    }
    assert InboxEvent.objects.count() == 1 and QueueEntry.objects.count() == 1


def test_either_slash_and_the_generic_path_are_served():
    responses = send_all(
        [
            ("POST", "/webhooks/zoho/invoices", INVOICE, WITH_TOKEN),
            ("POST", "/webhooks/zoho/", INVOICE.replace(b"0052033", b"0052034"), WITH_TOKEN),
        ]
    )
    assert [r.status_code for r in responses] == [202, 202]
    assert set(InboxEvent.objects.values_list("entity", flat=True)) == {"invoices"}


@pytest.mark.parametrize(
    ("path", "headers", "status", "reason"),
    [
        (URL, JSON, 401, "missing or invalid webhook signature or token"),
        ("/webhooks/zoho/widgets/", WITH_TOKEN, 404, "unknown entity 'widgets'"),
        (URL, {**WITH_TOKEN, "Content-Type": "text/plain"}, 415, "use application/json"),
    ],
)
def test_refusals_are_json_and_store_nothing(path, headers, status, reason):
    response = send("POST", path, INVOICE, headers)
    assert response.status_code == status
    assert response.json()["error"].startswith(reason)
    assert InboxEvent.objects.count() == 0


def test_a_body_over_the_limit_is_refused_by_its_length(settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 10
    response = send("POST", URL, INVOICE, WITH_TOKEN)
    assert response.status_code == 413
    assert response.json() == {"error": "body larger than 10 bytes"}
    assert InboxEvent.objects.count() == 0


def test_over_the_rate_limit_is_a_429_with_retry_after(settings, monkeypatch):
    from inbox import throttling

    monkeypatch.setattr(throttling, "_counts", throttling._Counts())
    settings.WEBHOOK_RATE_LIMIT = "1/m"
    first, limited = send_all([("POST", URL, INVOICE, WITH_TOKEN)] * 2)
    assert first.status_code == 202
    assert limited.status_code == 429
    assert limited.json() == {"error": "rate limit exceeded"}
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_an_authentic_unusable_webhook_is_kept_as_rejected():
    response = send("POST", URL, b'{"invoice": {"total": 1}}', WITH_TOKEN)
    assert response.status_code == 400
    event = InboxEvent.objects.get(pk=response.json()["event_id"])
    assert event.validity == Validity.REJECTED
    assert "invoice_id" in event.rejection_reason
    assert QueueEntry.objects.count() == 0


def test_text_the_database_cannot_hold_is_kept_as_rejected_too():
    # A NUL escaped in a JSON key: valid JSON, no text column of PostgreSQL holds it; the
    # parser refuses it before any insert.
    body = INVOICE.replace(b'"invoice_id"', b'"invoice_id", "k\\u0000": 1, "x"', 1)
    response = send("POST", URL, body, WITH_TOKEN)
    assert response.status_code == 400
    assert InboxEvent.objects.filter(validity=Validity.REJECTED).count() == 1
    assert QueueEntry.objects.count() == 0


def test_what_the_event_loop_does_not_serve_goes_to_django():
    refused, health = send_all([("GET", URL, b"", {}), ("GET", "/health", b"", {})])
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST, PUT, DELETE"
    assert refused.json() == {"error": "method GET not allowed"}
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert health.headers["x-frame-options"] == "DENY"  # Django's full middleware


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/webhooks/zoho", None),
        ("/webhooks/zoho/", None),
        ("/webhooks/zoho/bills", "bills"),
        ("/webhooks/zoho/bills/", "bills"),
        ("/webhooks/zoho/bills/x/", False),
        ("/webhooks/zohox/", False),
        ("/webhooks/", False),
        ("/health", False),
    ],
)
def test_routes(path, route):
    assert asgi._route(path) == route


def _receiving(*messages: dict):
    pending = list(messages)

    async def receive() -> dict:
        return pending.pop(0)

    return receive


def test_a_chunked_body_is_refused_once_it_passes_the_limit():
    chunk = {"type": "http.request", "body": b"x" * 6, "more_body": True}
    receive = _receiving(chunk, chunk, {"type": "http.request", "body": b""})
    refused = asyncio.run(asgi._read_body(receive, {}, 10))
    assert refused.status_code == 413
    whole = asyncio.run(asgi._read_body(_receiving(chunk, {"type": "http.request"}), {}, 10))
    assert whole == b"x" * 6


def test_a_client_gone_mid_body_gets_no_answer_and_stores_nothing():
    receive = _receiving(
        {"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}
    )
    with pytest.raises(asgi._ClientGone):
        asyncio.run(asgi._read_body(receive, {}, 100))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the asynchronous pool's path")
def test_a_value_the_insert_itself_refuses_is_kept_as_rejected(monkeypatch):
    # What the parser lets through and PostgreSQL still refuses (a DataError): here a
    # request id longer than its column, put in the statement's parameters.
    from inbox import services

    real = services.store_statement

    def overlong_request_id(accepted):
        sql, params = real(accepted)
        column = services._INBOX_COLUMNS.index("request_id")
        return sql, [*params[:column], "x" * 500, *params[column + 1 :]]

    monkeypatch.setattr(services, "store_statement", overlong_request_id)
    response = send("POST", URL, INVOICE, WITH_TOKEN)
    assert response.status_code == 400
    assert "cannot store" in response.json()["error"]
    event = InboxEvent.objects.get(pk=response.json()["event_id"])
    assert event.validity == Validity.REJECTED
    assert QueueEntry.objects.count() == 0


def test_plain_http_in_production_is_django_s_redirect_and_https_gets_hsts(settings, monkeypatch):
    from django.core.handlers.wsgi import WSGIHandler

    from tds_site import asgi as site_asgi
    from tds_site.handlers import WebhookHandler, route_webhooks

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    # Django's middleware reads these settings when it is built: build it anew, as a
    # production process starts with them.
    monkeypatch.setattr(
        site_asgi, "wsgi_application", route_webhooks(WebhookHandler(), WSGIHandler())
    )
    asgi._security_headers.cache_clear()
    try:
        plain, proxied = send_all(
            [
                ("POST", URL, INVOICE, WITH_TOKEN),
                ("POST", URL, INVOICE, {**WITH_TOKEN, "X-Forwarded-Proto": "https"}),
            ]
        )
    finally:
        asgi._security_headers.cache_clear()
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://testserver" + URL
    assert proxied.status_code == 202
    assert proxied.headers["strict-transport-security"] == "max-age=3600"
    assert InboxEvent.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the asynchronous pool's path")
def test_an_unreachable_database_is_a_503_with_retry_after(settings, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    real = async_db.connection_kwargs
    monkeypatch.setattr(async_db, "connection_kwargs", lambda: {**real(), "port": port})
    settings.DATABASE_POOL_LIMITS = {**settings.DATABASE_POOL_LIMITS, "timeout": 1}
    response = send("POST", URL, INVOICE, WITH_TOKEN)
    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable, retry later"}
    assert response.headers["retry-after"] == "5"
    assert InboxEvent.objects.count() == 0


def test_a_defect_is_a_json_500_and_logged(monkeypatch, caplog):
    def broken(request):
        raise RuntimeError("a bug")

    monkeypatch.setattr("inbox.services.judge_webhook", broken)
    response = send("POST", URL, INVOICE, WITH_TOKEN)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert any(r.name == "tds.ingest" and r.exc_info for r in caplog.records)
    assert InboxEvent.objects.count() == 0
