"""Reading the webhook body: a chunked body is read whole, or refused with 411, never empty.

The chunked path through a real server is in tests/hostile/test_live_requests.py."""

from __future__ import annotations

import pytest

from inbox.models import InboxEvent
from inbox.signatures import sign
from tests.support import FIXTURES, SECRET

pytestmark = pytest.mark.django_db
INVOICE = (FIXTURES / "invoice.json").read_bytes()


def test_a_chunked_body_from_a_server_that_does_not_end_the_stream_is_411(client):
    response = client.post(
        "/webhooks/zoho/invoices/",
        INVOICE,
        content_type="application/json",
        CONTENT_LENGTH="",  # chunked: no length; Django's test server sets no input_terminated
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_X_ZOHO_WEBHOOK_SIGNATURE=sign(SECRET, "", "application/json", INVOICE),
    )
    assert response.status_code == 411
    assert response.json() == {"error": "send the body with a Content-Length"}
    assert InboxEvent.objects.count() == 0


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_an_invalid_content_length_is_400(client, length):
    response = client.post(
        "/webhooks/zoho/invoices/", INVOICE, content_type="application/json", CONTENT_LENGTH=length
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid Content-Length"}
