"""An unsigned header or method cannot turn a signed event into another operation."""

from __future__ import annotations

import pytest

from inbox.models import InboxEvent, Validity
from syncqueue.models import QueueEntry
from tests.support import FIXTURES, TOKEN, signed_post

pytestmark = pytest.mark.django_db
INVOICE = (FIXTURES / "invoice.json").read_bytes()
URL = "/webhooks/zoho/invoices/"


@pytest.mark.parametrize(
    ("headers", "method"),
    [
        ({"X-Zoho-Event": "invoice.deleted"}, "post"),
        ({"X-Zoho-Event": "invoice.created"}, "post"),
        ({}, "delete"),
    ],
)
def test_a_signed_update_resent_as_another_operation_is_refused(client, headers, method):
    update = signed_post(client, URL, INVOICE, query="operation=update")
    assert update.status_code == 202
    replay = signed_post(
        client, URL, INVOICE, query="operation=update", headers=headers, method=method
    )
    assert replay.status_code == 400
    assert "signed operation is 'update'" in replay.json()["error"]
    rejected = InboxEvent.objects.get(pk=replay.json()["event_id"])
    assert rejected.validity == Validity.REJECTED
    assert list(QueueEntry.objects.values_list("operation", flat=True)) == ["update"]


@pytest.mark.parametrize(
    ("headers", "method"),
    [({"X-Zoho-Event": "invoice.deleted"}, "delete"), ({}, "post"), ({}, "put")],
)
def test_unsigned_sources_that_agree_with_the_signed_operation_pass(client, headers, method):
    response = signed_post(
        client, URL, INVOICE, query="operation=delete", headers=headers, method=method
    )
    assert response.status_code == 202
    assert InboxEvent.objects.get().operation == "delete"


def test_a_token_request_keeps_the_contract_order_header_first(client):
    response = client.post(
        f"{URL}?operation=update",
        INVOICE,
        content_type="application/json",
        HTTP_X_TDS_TOKEN=TOKEN,
        HTTP_X_ZOHO_EVENT="invoice.deleted",
    )
    assert response.status_code == 202
    assert InboxEvent.objects.get().operation == "delete"


def test_the_signature_is_stored_redacted(client):
    assert signed_post(client, URL, INVOICE).status_code == 202
    assert InboxEvent.objects.get().headers["x-zoho-webhook-signature"] == "[redacted]"
