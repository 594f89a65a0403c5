"""Log lines are JSON with the request id, and secrets never reach them."""

from __future__ import annotations

import json
import logging

import pytest

from tds_site.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter, request_id_var


def format_record(message: str, *args) -> dict:
    record = logging.LogRecord("tds.test", logging.WARNING, __file__, 1, message, args, None)
    for log_filter in (RequestIdFilter(), RedactSecretsFilter()):
        log_filter.filter(record)
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
