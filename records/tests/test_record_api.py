"""GET /dashboard/records/<entity>/<zoho_id>, and …/hold and …/release (CONTRACT §6)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from inbox.models import InboxEvent
from syncqueue.claims import claim_batch
from syncqueue.models import QueueEntry
from syncqueue.processing import process_claim
from tests.factories import TokenFactory, UserFactory
from tests.support import signed_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_auth():
    token = TokenFactory(user=UserFactory(username="ops", superuser=True))
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def _send(client, payload: dict) -> str:
    response = signed_post(client, "/webhooks/zoho/invoices/", json.dumps(payload))
    assert response.status_code == 202, response.content
    return response.json()["event_id"]


def _drain() -> None:
    while claims := claim_batch("w1"):
        for claim in claims:
            process_claim(claim, "w1")


def test_the_timeline_shows_the_erp_row_and_every_event_in_order(
    client, staff_auth, fixture_payload
):
    invoice = fixture_payload("invoice")
    record = invoice["invoice"]
    first = _send(client, invoice)
    _drain()
    newer = {**record, "total": "999.50", "last_modified_time": "2030-01-01T00:00:00+0000"}
    second = _send(client, {"invoice": newer})
    _drain()

    zoho_id = record["invoice_id"]
    body = client.get(f"/dashboard/records/invoices/{zoho_id}", **staff_auth).json()
    assert (body["entity"], body["zoho_id"], body["held"]) == ("invoices", zoho_id, False)
    assert body["erp"]["zoho_id"] == zoho_id
    assert Decimal(body["erp"]["total"]) == Decimal("999.50")  # a string: exact
    assert [e["event_id"] for e in body["events"]] == [first, second]
    assert [e["status"] for e in body["events"]] == ["completed", "completed"]
    assert [[a["outcome"] for a in e["attempts"]] for e in body["events"]] == [
        ["applied"],
        ["applied"],
    ]
    assert all(e["received_at"] and not e["purged"] for e in body["events"])
    assert body["events"][0]["changes"]["number"] == [None, record["invoice_number"]]
    assert body["events"][1]["changes"]["total"] == ["1484000.000000", "999.500000"]


def test_the_timeline_outlives_the_purge_of_its_events(client, staff_auth, fixture_payload):
    invoice = fixture_payload("invoice")
    event_id = _send(client, invoice)
    _drain()
    month_ago = timezone.now() - timedelta(days=30)
    QueueEntry.objects.update(completed_at=month_ago)
    InboxEvent.objects.update(received_at=month_ago)
    call_command("tds_purge", stdout=StringIO())  # 7 days of queue and inbox, a year of ledger
    assert not QueueEntry.objects.exists()
    zoho_id = invoice["invoice"]["invoice_id"]
    body = client.get(f"/dashboard/records/invoices/{zoho_id}", **staff_auth).json()
    [event] = body["events"]
    assert (event["event_id"], event["purged"], event["received_at"]) == (event_id, True, None)
    assert event["changes"]["number"] == [None, invoice["invoice"]["invoice_number"]]
    assert event["applied_at"]


def test_an_unknown_record_or_entity_is_a_404_with_a_reason(client, staff_auth):
    missing = client.get("/dashboard/records/invoices/404404", **staff_auth)
    assert missing.status_code == 404
    assert "nothing is known" in missing.json()["detail"]
    entity = client.get("/dashboard/records/widgets/1", **staff_auth)
    assert entity.status_code == 404
    assert "unknown entity" in entity.json()["detail"]


def test_hold_and_release_through_the_api(client, staff_auth, fixture_payload):
    invoice = fixture_payload("invoice")
    zoho_id = invoice["invoice"]["invoice_id"]
    held = client.post(f"/dashboard/records/invoices/{zoho_id}/hold", **staff_auth)
    assert (held.status_code, held.json()) == (
        200,
        {"entity": "invoices", "zoho_id": zoho_id, "held": True},
    )
    _send(client, invoice)
    _drain()
    body = client.get(f"/dashboard/records/invoices/{zoho_id}", **staff_auth).json()
    assert body["held"] is True and body["erp"] is None
    assert [e["status"] for e in body["events"]] == ["pending"]

    released = client.post(f"/dashboard/records/invoices/{zoho_id}/release", **staff_auth)
    assert (released.status_code, released.json()["held"]) == (200, False)
    _drain()
    body = client.get(f"/dashboard/records/invoices/{zoho_id}", **staff_auth).json()
    assert body["erp"]["zoho_id"] == zoho_id
    assert [e["status"] for e in body["events"]] == ["completed"]


def test_the_record_endpoints_are_for_staff_only(client):
    assert client.get("/dashboard/records/invoices/1").status_code == 401
    assert client.post("/dashboard/records/invoices/1/hold").status_code == 401
