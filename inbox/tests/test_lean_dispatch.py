"""The webhook view serves requests without DRF's machinery: every refusal is still JSON."""

from __future__ import annotations

import pytest

from inbox.models import InboxEvent
from tests.support import FIXTURES, TOKEN

pytestmark = pytest.mark.django_db

INVOICE = (FIXTURES / "invoice.json").read_bytes()
URL = "/webhooks/zoho/invoices/"


def post(client, body: bytes = INVOICE, **extra):
    extra.setdefault("content_type", "application/json")
    return client.post(URL, body, headers={"X-TDS-Token": TOKEN}, **extra)


@pytest.mark.parametrize("method", ["get", "patch", "options"])
def test_other_methods_are_405_with_a_json_reason(client, method):
    response = getattr(client, method)(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST, PUT, DELETE"
    assert "not allowed" in response.json()["error"]


def test_refusals_keep_their_status_and_json_reason(client, settings):
    assert client.post(URL, INVOICE, content_type="application/json").status_code == 401
    assert post(client, content_type="text/plain").json()["error"].startswith("use application")
    settings.WEBHOOK_MAX_BODY_BYTES = 10
    too_large = post(client)
    assert too_large.status_code == 413 and "larger than 10 bytes" in too_large.json()["error"]
    assert InboxEvent.objects.count() == 0


def test_over_the_limit_is_a_json_429_before_anything_is_read(client, settings):
    settings.WEBHOOK_RATE_LIMIT = "1/m"
    assert post(client).status_code == 202
    limited = post(client, content_type="text/plain")  # would be a 415 if it were read
    assert limited.status_code == 429
    assert limited.json() == {"error": "rate limit exceeded"}
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_an_accepted_webhook_answers_as_before(client):
    response = post(client)
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == "accepted"
