"""Hostile webhook bodies and query strings through Django's client (the fast path).

Whatever the bytes, the answer is never a 5xx; an unauthenticated request stores nothing;
an authentic one the ERP cannot use is a 400 kept as rejected, the same on PostgreSQL and
SQLite. Request lines and headers no client library sends are in test_live_requests.py.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from inbox.models import InboxEvent, Validity
from syncqueue.models import QueueEntry
from tests.factories import DeadLetterFactory
from tests.support import TOKEN, signed_post

pytestmark = pytest.mark.django_db
URL = "/webhooks/zoho/invoices/"


def invoice(notes: str) -> bytes:
    return b'{"invoice": {"invoice_id": "7", "notes": "' + notes.encode() + b'"}}'


def form(record: bytes) -> bytes:
    return b"JSONString=" + quote(record).encode()


UNUSABLE_JSON = {
    "nul escaped": invoice("a\\u0000b"),
    "nul escaped in a key": b'{"invoice": {"invoice_id": "7", "a\\u0000": 1}}',
    "lone high surrogate": invoice("a\\ud800b"),
    "lone low surrogate": invoice("\\udc00"),
    "raw nul byte": invoice("a\x00b"),
    "deep nesting": b'{"invoice": {"invoice_id": "7", "x": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}}",
    "exponent out of range": b'{"invoice": {"invoice_id": "7", "total": 1e9999999999999999999}}',
    "5000 digits": b'{"invoice": {"invoice_id": "7", "total": 1' + b"0" * 5000 + b"}}",
    "utf-8 bom": b"\xef\xbb\xbf" + invoice("x"),
    "utf-16": invoice("x").decode().encode("utf-16"),
    "latin-1": invoice("caf\xe9").decode().encode("latin-1"),
    "NaN": b'{"invoice": {"invoice_id": "7", "total": NaN}}',
}


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("body", UNUSABLE_JSON.values(), ids=UNUSABLE_JSON.keys())
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_an_authentic_unusable_body_is_a_400_kept_as_rejected(client, body, content_type):
    raw = form(body) if content_type.endswith("urlencoded") else body
    # Zoho signs UTF-8 text only; the token vouches for any bytes.
    signed = is_utf8(raw)
    response = signed_post(
        client,
        URL,
        raw,
        content_type=content_type,
        secret=None if not signed else "TdsCoreWebhook2025Secret",
        headers=None if signed else {"X-TDS-Token": TOKEN},
    )
    assert response.status_code == 400
    event = InboxEvent.objects.get()
    assert (event.validity, str(event.pk)) == (Validity.REJECTED, response.json()["event_id"])
    assert bytes(event.raw_body) == raw
    assert QueueEntry.objects.count() == 0


@pytest.mark.parametrize("body", UNUSABLE_JSON.values(), ids=UNUSABLE_JSON.keys())
def test_an_unauthenticated_hostile_body_is_401_and_stores_nothing(client, body):
    response = signed_post(
        client, URL, body, secret=None, headers={"X-Zoho-Webhook-Signature": "00" * 32}
    )
    assert response.status_code == 401
    assert InboxEvent.objects.count() == 0


def test_huge_but_finite_numbers_are_kept_exactly(client):
    body = b'{"invoice": {"invoice_id": "7", "total": 1e999999, "balance": -1e-999999}}'
    assert signed_post(client, URL, body).status_code == 202
    payload = QueueEntry.objects.get().payload
    assert (payload["total"], payload["balance"]) == ("1E+999999", "-1E-999999")


def test_duplicate_keys_keep_the_last_as_json_parsers_do(client):
    body = b'{"invoice": {"invoice_id": "1", "invoice_id": "2", "status": "a", "status": "b"}}'
    assert signed_post(client, URL, body).status_code == 202
    entry = QueueEntry.objects.get()
    assert (entry.record_id, entry.payload["status"]) == ("2", "b")


def test_a_surrogate_pair_is_text_not_a_lone_surrogate(client):
    assert signed_post(client, URL, invoice("\\ud83d\\ude00")).status_code == 202
    assert QueueEntry.objects.get().payload["notes"] == "\U0001f600"


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("a=%00", {"a": "\ufffd"}),
        ("%00=b", {"\ufffd": "b"}),
        ("a=%ED%A0%80", {"a": "\ufffd" * 3}),
        ("a=%FF", {"a": "\ufffd"}),
    ],
)
def test_a_hostile_query_string_on_a_signed_webhook_is_stored_readable(client, query, params):
    response = signed_post(client, URL, invoice("x"), query=query)
    assert response.status_code == 202
    assert InboxEvent.objects.get().params == params


def test_a_nul_in_a_signed_operation_is_a_rejected_400(client):
    response = signed_post(client, URL, invoice("x"), query="operation=%00delete")
    assert response.status_code == 400
    assert InboxEvent.objects.get().params == {"operation": "\ufffddelete"}


def test_a_hostile_header_value_is_stored_readable(client):
    response = signed_post(client, URL, invoice("x"), headers={"X-Zoho-Event": "invoice\x00.x"})
    assert response.status_code == 202
    assert InboxEvent.objects.get().headers["x-zoho-event"] == "invoice\ufffd.x"


@pytest.mark.parametrize("body", [b"\x00", b'{"a": "\\ud800"}', b"[" * 100_000])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_hostile_bodies_to_dashboard_posts_are_never_a_5xx(client, staff_token, body, content_type):
    dead = DeadLetterFactory()
    response = client.post(
        f"/dashboard/dead-letters/{dead.pk}/replay",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Token {staff_token}",
    )
    # The replay reads an optional {source, dry_run}: a body it cannot read is refused with
    # its reason and nothing is replayed; a JSON object (unknown keys) replays as received.
    dead.refresh_from_db()
    if content_type == "application/json" and body.startswith(b"{"):
        assert response.status_code == 202 and dead.replay_count == 1
    else:
        assert response.status_code in (400, 415), response.content
        assert response.json()["detail"] and dead.replay_count == 0
    assert (
        client.post(
            "/dashboard/alerts/999/acknowledge",
            body,
            content_type=content_type,
            HTTP_AUTHORIZATION=f"Token {staff_token}",
        ).status_code
        == 404
    )
