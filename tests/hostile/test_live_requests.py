"""Requests only a raw socket sends, against a real gunicorn: chunked bodies, raw bytes and
NUL characters in request lines and headers. Never a 5xx; nothing stored unless authentic."""

from __future__ import annotations

import json

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


def post_with_length(api: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> RawResponse:
    framing = [JSON, (b"Content-Length", str(len(INVOICE)).encode()), *headers]
    return send(api, request_bytes("POST", target, framing, INVOICE))


# What gunicorn itself refuses (400) before the application sees the request.
REFUSED_BY_THE_SERVER = {
    "NUL in a header": (WEBHOOK, (b"X-Zoho-Event", b"invoice\x00.deleted")),
    "control byte in a header": (WEBHOOK, (b"Idempotency-Key", b"a\x01b")),
    "raw NUL in the query": (WEBHOOK + b"?a=\x00", (b"X-Trace", b"1")),
    "raw 0xFF in the query": (WEBHOOK + b"?a=\xff", (b"X-Trace", b"1")),
}


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize(
    ("target", "header"), REFUSED_BY_THE_SERVER.values(), ids=REFUSED_BY_THE_SERVER.keys()
)
def test_what_the_server_refuses_is_a_400_and_stores_nothing(api, target, header, signed):
    query = target.partition(b"?")[2].decode("latin-1")
    response = post_with_length(api, target, [header, *([signature(INVOICE, query)] * signed)])
    assert response.status == 400
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    ("header", "stored_key"),
    [(b"caf\xe9", "caf\xe9"), (b"a\xed\xa0\x80b", "a\xed\xa0\x80b")],
    ids=["latin-1", "utf-8 of a lone surrogate"],
)
def test_raw_bytes_in_a_header_reach_the_inbox_as_latin_1_text(api, header, stored_key):
    key = (b"Idempotency-Key", header)
    assert post_with_length(api, WEBHOOK, [key]).status == 401
    assert stored() == (0, 0)
    assert post_with_length(api, WEBHOOK, [key, signature(INVOICE)]).status == 202
    assert InboxEvent.objects.get().idempotency_key == stored_key


def test_a_nul_in_a_signed_query_is_accepted_and_stored_readable(api):
    assert post_with_length(api, WEBHOOK + b"?a=%00", []).status == 401
    assert stored() == (0, 0)
    response = post_with_length(api, WEBHOOK + b"?a=%00", [signature(INVOICE, "a=%00")])
    assert response.status == 202
    assert InboxEvent.objects.get().params == {"a": "\ufffd"}


def test_a_nul_in_the_webhook_path_is_a_404(api):
    response = post_with_length(api, b"/webhooks/zoho/invoices%00/", [signature(INVOICE)])
    assert (response.status, response.json()) == (404, {"error": "unknown entity 'invoices\\x00'"})
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    ("target", "header", "status", "reason"),
    [
        (b"/dashboard/dead-letters?entity=a%00b", None, 400, "holds a NUL character"),
        (b"/dashboard/dead-letters?entity=%ED%A0%80", None, 400, "is not valid UTF-8"),
        (b"/admin/inbox/inboxevent/?q=%00", None, 400, "holds a NUL character"),
        (b"/metrics?x=%00", None, 400, "holds a NUL character"),
        (b"/dashboard/dead-letters?entity=\xff", None, 400, None),
        (b"/dashboard/dead-letters", (b"Authorization", b"Token a\x00b"), 400, None),
        (b"/dashboard/dead-letters", (b"Authorization", b"Token caf\xe9"), 401, "invalid"),
        (b"/dashboard/dead-letters", (b"Authorization", b"Token \xed\xa0\x80"), 401, "invalid"),
        (b"/dashboard/dead-letters", (b"Cookie", b"sessionid=abcdefghij\x00"), 400, None),
        (b"/dashboard/dead-letters", (b"Cookie", b"sessionid=abcdefghij\xe9"), 401, "not provided"),
    ],
)
def test_hostile_dashboard_requests_are_4xx_never_5xx(
    api, staff_token, target, header, status, reason
):
    auth = (b"Authorization", f"Token {staff_token}".encode())
    response = send(api, request_bytes("GET", target, [header or auth]))
    assert response.status == status
    if reason is not None:  # None: gunicorn's own HTML page for a request it cannot parse
        assert reason in json.dumps(response.json())
