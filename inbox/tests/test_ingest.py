"""CONTRACT §3, row by row, through Django's test client on the real database."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.db import OperationalError, connection

from inbox.models import AuthMethod, InboxEvent, RateWindow, Validity
from syncqueue.models import QueueEntry
from tests.processes import free_port
from tests.support import FIXTURE_ENTITIES, FIXTURES, TOKEN, signed_post

pytestmark = pytest.mark.django_db

INVOICE = (FIXTURES / "invoice.json").read_bytes()


def test_new_event_is_accepted_with_its_queue_entry(client):
    response = signed_post(client, "/webhooks/zoho/invoices/", INVOICE)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and body["duplicate"] is False
    assert isinstance(body["event_id"], str)
    event = InboxEvent.objects.get(pk=int(body["event_id"]))
    assert event.validity == Validity.ACCEPTED
    assert event.auth_method == AuthMethod.SIGNATURE
    assert (event.entity, event.record_id, event.operation) == (
        "invoices",
        "2851937000000052033",
        "upsert",
    )
    assert bytes(event.raw_body) == INVOICE
    assert event.remote_addr == "127.0.0.1"
    entry = QueueEntry.objects.get(inbox_event_id=event.pk)
    assert entry.status == "pending"
    assert entry.payload["invoice_number"] == "INV-000871"


def test_same_event_again_is_a_duplicate(client):
    first = signed_post(client, "/webhooks/zoho/invoices", INVOICE).json()
    again = signed_post(client, "/webhooks/zoho/invoices/", INVOICE)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": first["event_id"], "duplicate": True}
    assert InboxEvent.objects.count() == 1
    assert QueueEntry.objects.count() == 1


def test_idempotency_key_decides_sameness(client):
    a = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, headers={"Idempotency-Key": "k1"})
    b = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, headers={"Idempotency-Key": "k2"})
    c = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, headers={"Idempotency-Key": "k1"})
    assert (a.status_code, b.status_code, c.status_code) == (202, 202, 200)
    assert c.json()["event_id"] == a.json()["event_id"]


def test_same_record_newer_version_or_other_operation_is_new(client):
    signed_post(client, "/webhooks/zoho/invoices/", INVOICE)
    doc = json.loads(INVOICE)
    doc["invoice"]["last_modified_time"] = "2025-03-06T10:00:00+0300"
    assert signed_post(client, "/webhooks/zoho/invoices/", json.dumps(doc)).status_code == 202
    deleted = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, method="delete")
    assert deleted.status_code == 202
    assert InboxEvent.objects.get(pk=deleted.json()["event_id"]).operation == "delete"


def test_without_last_modified_the_body_bytes_decide(client):
    body = json.dumps({"invoice_id": "77", "status": "paid"})
    assert signed_post(client, "/webhooks/zoho/invoices/", body).status_code == 202
    assert signed_post(client, "/webhooks/zoho/invoices/", body).status_code == 200
    assert signed_post(client, "/webhooks/zoho/invoices/", body + " ").status_code == 202


@pytest.mark.parametrize("secret", [None, "wrong-secret-xyz"])
def test_missing_or_wrong_signature_is_401_and_stores_nothing(client, secret):
    response = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, secret=secret)
    assert response.status_code == 401
    assert "error" in response.json()
    assert InboxEvent.objects.count() == 0 and QueueEntry.objects.count() == 0


def test_rotated_secret_signs_too(client):
    response = signed_post(
        client, "/webhooks/zoho/invoices/", INVOICE, secret="RotatedSecret2026abc"
    )
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert InboxEvent.objects.get().auth_method == AuthMethod.SIGNATURE


def test_token_in_header_or_query(client):
    by_header = client.post(
        "/webhooks/zoho/invoices/", INVOICE, content_type="application/json", HTTP_X_TDS_TOKEN=TOKEN
    )
    assert by_header.status_code == 202
    assert InboxEvent.objects.get().auth_method == AuthMethod.TOKEN
    assert InboxEvent.objects.get().headers["x-tds-token"] == "[redacted]"
    doc = json.loads(INVOICE)
    doc["invoice"]["last_modified_time"] = "2025-03-07T10:00:00+0300"
    by_query = client.post(
        f"/webhooks/zoho/invoices/?token={TOKEN}", json.dumps(doc), content_type="application/json"
    )
    assert by_query.status_code == 202
    event = InboxEvent.objects.get(pk=by_query.json()["event_id"])
    assert event.params["token"] == "[redacted]"
    wrong = client.post(
        "/webhooks/zoho/invoices/?token=nope", INVOICE, content_type="application/json"
    )
    assert wrong.status_code == 401


def test_unsigned_only_when_allowed(client, settings):
    assert (
        client.post("/webhooks/zoho/", INVOICE, content_type="application/json").status_code == 401
    )
    settings.WEBHOOK_ALLOW_UNSIGNED = True
    response = client.post("/webhooks/zoho/", INVOICE, content_type="application/json")
    assert response.status_code == 202
    assert InboxEvent.objects.get().auth_method == AuthMethod.UNSIGNED


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"invoice": {"invoice_number": "INV-1"}}).encode(), "no record id"),
        (json.dumps({"widget": {"widget_id": "1"}}).encode(), "unknown module"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_authentic_but_unusable_is_400_and_kept_as_rejected(client, body, reason):
    response = (
        signed_post(client, "/webhooks/zoho/", body)
        if body != b"\xff\xfe"
        else (
            client.post(
                "/webhooks/zoho/", body, content_type="application/json", HTTP_X_TDS_TOKEN=TOKEN
            )
        )
    )
    assert response.status_code == 400
    assert reason in response.json()["error"]
    event = InboxEvent.objects.get()
    assert event.validity == Validity.REJECTED
    assert reason in event.rejection_reason
    assert bytes(event.raw_body) == body
    assert QueueEntry.objects.count() == 0


def test_payload_for_another_entity_is_rejected(client):
    response = signed_post(client, "/webhooks/zoho/bills/", INVOICE)
    assert response.status_code == 400
    assert "invoices" in response.json()["error"]


def test_unknown_entity_path_is_404(client):
    response = signed_post(client, "/webhooks/zoho/widgets/", INVOICE)
    assert response.status_code == 404
    assert InboxEvent.objects.count() == 0


def test_body_over_the_limit_is_413_and_stores_nothing(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    response = signed_post(client, "/webhooks/zoho/invoices/", INVOICE)
    assert response.status_code == 413
    assert InboxEvent.objects.count() == 0


def test_other_content_type_is_415(client):
    response = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, content_type="text/plain")
    assert response.status_code == 415
    assert InboxEvent.objects.count() == 0


def test_over_the_rate_limit_is_429_with_retry_after(client, settings):
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    codes = [signed_post(client, "/webhooks/zoho/", INVOICE).status_code for _ in range(3)]
    assert codes == [202, 200, 429]
    limited = signed_post(client, "/webhooks/zoho/", INVOICE)
    assert int(limited["Retry-After"]) >= 1
    assert "error" in limited.json()


def test_database_unreachable_is_503_with_retry_after(client, monkeypatch):
    def fail(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("inbox.services._store_accepted", fail)
    response = signed_post(client, "/webhooks/zoho/invoices/", INVOICE)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "error" in response.json()


@pytest.mark.parametrize("name", sorted(FIXTURE_ENTITIES))
@pytest.mark.parametrize("generic", [False, True], ids=["entity-path", "generic-path"])
def test_every_fixture_through_its_path_and_the_generic_path(client, name, generic):
    path_entity, entity = FIXTURE_ENTITIES[name]
    body = (FIXTURES / f"{name}.json").read_bytes()
    path = "/webhooks/zoho/" if generic else f"/webhooks/zoho/{path_entity}/"
    response = signed_post(client, path, body)
    assert response.status_code == 202, response.json()
    event = InboxEvent.objects.get(pk=response.json()["event_id"])
    record = next(iter(json.loads(body).values()))
    assert event.entity == entity
    assert event.record_id == next(v for k, v in record.items() if k.endswith("_id"))


@pytest.mark.parametrize(
    ("name", "entity"), [("contact_customer", "customers"), ("contact_vendor", "vendors")]
)
def test_contacts_route_by_contact_type(client, name, entity):
    response = signed_post(
        client, "/webhooks/zoho/contacts", (FIXTURES / f"{name}.json").read_bytes()
    )
    assert response.status_code == 202
    assert InboxEvent.objects.get().entity == entity


def test_vendor_sent_to_customers_is_rejected(client):
    body = (FIXTURES / "contact_vendor.json").read_bytes()
    response = signed_post(client, "/webhooks/zoho/customers/", body)
    assert response.status_code == 400
    reason = "the payload is a vendors record but was sent to /customers/"
    assert response.json()["error"] == reason
    assert InboxEvent.objects.get().rejection_reason == reason
    assert not QueueEntry.objects.exists()


@pytest.mark.parametrize("field", ["JSONString", "payload", "contact"])
def test_form_encoded_bodies(client, field):
    record = json.loads((FIXTURES / "contact_customer.json").read_text())
    document = record if field != "contact" else record["contact"]
    body = urlencode({"event": "contact.updated", field: json.dumps(document)})
    response = signed_post(
        client,
        "/webhooks/zoho/contacts/",
        body,
        content_type="application/x-www-form-urlencoded",
        query="organization_id=60012345678",
    )
    assert response.status_code == 202, response.json()
    event = InboxEvent.objects.get()
    assert event.entity == "customers"
    assert event.params == {"organization_id": "60012345678", "event": "contact.updated"}


def test_raw_custom_payload_on_its_entity_path(client):
    body = '{\n  "invoice_id": "2851937000000052033",\n  "status": "paid"\n}\n'
    response = signed_post(client, "/webhooks/zoho/invoices", body)
    assert response.status_code == 202
    assert QueueEntry.objects.get().payload == {
        "invoice_id": "2851937000000052033",
        "status": "paid",
    }


def test_raw_payload_on_generic_path_needs_a_module(client):
    body = json.dumps({"invoice_id": "1", "status": "paid"})
    assert signed_post(client, "/webhooks/zoho/", body).status_code == 400
    named = signed_post(
        client, "/webhooks/zoho/", body, headers={"X-Zoho-Event": "invoice.updated"}
    )
    assert named.status_code == 202


@pytest.mark.parametrize(
    ("headers", "query", "method", "operation"),
    [
        ({"X-Zoho-Event": "invoice.created"}, "", "post", "create"),
        ({"X-Zoho-Event": "invoice.updated"}, "operation=update", "post", "update"),
        ({}, "operation=update", "post", "update"),
        ({}, "operation=delete", "put", "delete"),
        ({}, "", "put", "upsert"),
        ({}, "", "delete", "delete"),
    ],
)
def test_operation_from_header_then_query_then_method(client, headers, query, method, operation):
    response = signed_post(
        client, "/webhooks/zoho/invoices/", INVOICE, headers=headers, query=query, method=method
    )
    assert response.status_code == 202
    assert InboxEvent.objects.get().operation == operation


def test_unknown_operation_parameter_is_rejected(client):
    response = signed_post(client, "/webhooks/zoho/invoices/", INVOICE, query="operation=explode")
    assert response.status_code == 400
    assert "operation 'explode' is not one of create, update, delete" in response.json()["error"]
    assert InboxEvent.objects.get().validity == Validity.REJECTED
    assert not QueueEntry.objects.exists()


def test_numeric_ids_are_kept_as_exact_strings(client):
    body = '{"item": {"item_id": 2851937000000041017123, "name": "x"}}'
    assert signed_post(client, "/webhooks/zoho/products", body).status_code == 202
    assert InboxEvent.objects.get().record_id == "2851937000000041017123"


def test_forwarded_for_is_believed_only_from_trusted_proxies(client, settings):
    signed_post(client, "/webhooks/zoho/", INVOICE, headers={"X-Forwarded-For": "203.0.113.9"})
    assert InboxEvent.objects.get().remote_addr == "127.0.0.1"
    InboxEvent.objects.all().delete()
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    signed_post(client, "/webhooks/zoho/", INVOICE, headers={"X-Forwarded-For": "203.0.113.9"})
    assert InboxEvent.objects.get().remote_addr == "203.0.113.9"


def test_bad_field_values_are_accepted_at_ingest(client):
    doc = json.loads(INVOICE)
    doc["invoice"]["total"] = "abc"
    assert signed_post(client, "/webhooks/zoho/invoices/", json.dumps(doc)).status_code == 202
    assert QueueEntry.objects.get().payload["total"] == "abc"  # for the worker to judge


def test_secret_query_and_signature_vector_v2_through_the_view(client, settings):
    vectors = json.loads((FIXTURES.parent / "signature_vectors.json").read_text())
    v2 = next(v for v in vectors if v["name"] == "v2-json-with-query")
    settings.ZOHO_WEBHOOK_SECRETS = (v2["secret"],)
    response = client.post(
        f"/webhooks/zoho/?{v2['query']}",
        v2["body"].encode(),
        content_type=v2["content_type"],
        HTTP_X_ZOHO_WEBHOOK_SIGNATURE=v2["signature"],
    )
    assert response.status_code == 202
    assert InboxEvent.objects.get().operation == "update"


def test_health_reports_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_is_503_without_database(client, monkeypatch):
    from django.db import DatabaseError

    def broken():
        raise DatabaseError("down")

    monkeypatch.setattr("tds_site.views.live_workers", broken)
    response = client.get("/health")
    assert response.status_code == 503


def test_sparse_contact_delete_on_the_vendors_path(client):
    body = json.dumps({"contact_id": "2851937000000038019"})
    response = signed_post(client, "/webhooks/zoho/vendors/", body, method="delete")
    assert response.status_code == 202
    assert (InboxEvent.objects.get().entity, InboxEvent.objects.get().operation) == (
        "vendors",
        "delete",
    )
    assert signed_post(client, "/webhooks/zoho/contacts/", body).status_code == 400


def test_rate_limit_counts_in_redis_when_configured(client, settings):
    from inbox.throttling import _redis_client

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/12",
        }
    }
    _redis_client.cache_clear()
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    try:
        codes = [signed_post(client, "/webhooks/zoho/", INVOICE).status_code for _ in range(3)]
        assert codes == [202, 200, 429]
        keys = _redis_client().keys("*webhook-rate*")
        assert len(keys) == 1 and 0 < _redis_client().ttl(keys[0]) <= 61
    finally:
        _redis_client().flushdb()
        _redis_client.cache_clear()


def test_rate_limit_counts_in_the_database_while_redis_is_unreachable(client, settings):
    from inbox import throttling

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    throttling._redis_client.cache_clear()
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    try:
        codes = [signed_post(client, "/webhooks/zoho/", INVOICE).status_code for _ in range(3)]
        assert codes == [202, 200, 429]
        assert RateWindow.objects.get().hits == 3
    finally:
        throttling._redis_client.cache_clear()
        throttling._redis.retry_at = 0.0


def test_a_value_the_database_refuses_is_a_400_not_a_503(client, settings):
    body = json.dumps({"invoice": {"invoice_id": "5", "notes": "nul \u0000 inside"}})
    response = signed_post(client, "/webhooks/zoho/invoices/", body)
    if response.status_code == 202:  # SQLite stores NUL characters; PostgreSQL refuses them
        assert QueueEntry.objects.count() == 1
        return
    assert response.status_code == 400
    assert "cannot store" in response.json()["error"]
    assert InboxEvent.objects.get().validity == Validity.REJECTED


def test_a_forwarded_for_that_is_not_an_address_falls_back_to_the_peer(client, settings):
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    response = signed_post(
        client, "/webhooks/zoho/", INVOICE, headers={"X-Forwarded-For": "nonsense"}
    )
    assert response.status_code == 202
    assert InboxEvent.objects.get().remote_addr == "127.0.0.1"


def test_money_keeps_every_digit_from_webhook_to_erp(client):
    from decimal import Decimal

    from entities.models import Invoice
    from syncqueue.processing import drain

    body = (
        '{"invoice": {"invoice_id": "9", "total": 12345678901234.123456, "balance": 9.85, '
        '"last_modified_time": "2025-03-05T14:07:58+0300"}}'
    )
    assert signed_post(client, "/webhooks/zoho/invoices/", body).status_code == 202
    payload = QueueEntry.objects.get().payload
    assert payload["balance"] == 9.85  # plain numbers stay numbers
    assert payload["total"] == "12345678901234.123456"  # a float would round this one
    drain("test", budget_seconds=10)
    invoice = Invoice.objects.get()
    assert invoice.balance == Decimal("9.85")
    if connection.vendor == "postgresql":  # SQLite keeps decimals as REAL (Django's limit)
        assert invoice.total == Decimal("12345678901234.123456")
