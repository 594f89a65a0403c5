"""Log lines are JSON with the request id, and secrets never reach them."""

from __future__ import annotations

import json
import logging

import pytest

from tds_site.logging import JsonFormatter, RequestIdFilter, request_id_var


def format_record(message: str, *args) -> dict:
    record = logging.LogRecord("tds.test", logging.WARNING, __file__, 1, message, args, None)
    RequestIdFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_json_line_with_request_id():
    token = request_id_var.set("req-123")
    try:
        entry = format_record("hello %s", "world")
    finally:
        request_id_var.reset(token)
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "req-123"
    assert entry["level"] == "WARNING"


def test_secrets_are_scrubbed(settings):
    settings.SECRET_VALUES = ("TdsCoreWebhook2025Secret",)
    entry = format_record("bad signature with %s", "TdsCoreWebhook2025Secret")
    assert "TdsCoreWebhook2025Secret" not in json.dumps(entry)
    assert "***" in entry["message"]


@pytest.mark.django_db
def test_request_id_is_echoed(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-1")
    assert response["X-Request-ID"] == "abc-1"
    assert len(client.get("/health")["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_token_in_the_query_string_never_reaches_the_log(client, settings, caplog):
    # A 400 makes Django log the request object itself, query string included.
    settings.WEBHOOK_TOKEN = "qs-token-value-987"
    settings.SECRET_VALUES = ("qs-token-value-987",)
    with caplog.at_level(logging.WARNING):
        client.post(
            "/webhooks/zoho/invoices/?token=qs-token-value-987",
            b"{bad",
            content_type="application/json",
        )
    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert any("/webhooks/zoho/invoices/" in line for line in lines)
    assert not any("qs-token-value-987" in line for line in lines)


def test_an_access_line_with_an_encoded_token_is_scrubbed():
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '127.0.0.1 "POST /x?a=1&token=ab%2Bc HTTP/1.1" 202',
        (),
        None,
    )
    assert "ab%2Bc" not in JsonFormatter().format(record)
