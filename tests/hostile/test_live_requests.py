"""Requests only a raw socket sends, against a real gunicorn: chunked bodies, raw bytes and
NUL characters in request lines and headers. Never a 5xx; nothing stored unless authentic."""

from __future__ import annotations

import pytest

from inbox.models import InboxEvent
from inbox.signatures import sign
from syncqueue.models import QueueEntry
from tests.live import live_api
from tests.rawhttp import RawResponse, chunked, request_bytes, send
from tests.support import FIXTURES, SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
INVOICE = (FIXTURES / "invoice.json").read_bytes()
WEBHOOK = b"/webhooks/zoho/invoices/"
JSON = (b"Content-Type", b"application/json")


@pytest.fixture(scope="module")
def api(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock(), live_api(tmp_path_factory.mktemp("api")) as base:
        yield base


def signature(body: bytes, query: str = "") -> tuple[bytes, bytes]:
    return b"X-Zoho-Webhook-Signature", sign(SECRET, query, "application/json", body).encode()


def post_chunked(api: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> RawResponse:
    framing = [(b"Transfer-Encoding", b"chunked"), *headers]
    return send(api, request_bytes("POST", WEBHOOK, framing, chunked(body)))


def stored() -> tuple[int, int]:
    return InboxEvent.objects.count(), QueueEntry.objects.count()


def test_a_signed_chunked_webhook_is_judged_on_its_whole_body(api):
    first = post_chunked(api, INVOICE, [JSON, signature(INVOICE)])
    again = post_chunked(api, INVOICE, [JSON, signature(INVOICE)])
    assert (first.status, again.status) == (202, 200)
    assert again.json()["event_id"] == first.json()["event_id"]
    assert bytes(InboxEvent.objects.get().raw_body) == INVOICE
    assert stored() == (1, 1)


def test_a_chunked_body_over_the_limit_is_413_and_not_stored(api):
    big = b'{"invoice": {"invoice_id": "1", "notes": "' + b"x" * (1024 * 1024) + b'"}}'
    response = post_chunked(api, big, [JSON, signature(big)])
    assert response.status == 413
    assert response.json() == {"error": "body larger than 1048576 bytes"}
    assert stored() == (0, 0)


def test_a_malformed_chunked_body_is_400_and_not_stored(api):
    framing = [JSON, signature(INVOICE), (b"Transfer-Encoding", b"chunked")]
    response = send(api, request_bytes("POST", WEBHOOK, framing, b"zz\r\n" + INVOICE))
    assert response.status == 400
    assert stored() == (0, 0)
