"""The generic engine: guarded upserts, tombstones, lines, links, tolerant parsing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from entities import models as erp
from entities.engine import apply_event
from entities.fields import FieldValueError, to_decimal, to_timestamp
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db


def fixture_record(name: str) -> dict:
    return next(iter(json.loads((FIXTURES / f"{name}.json").read_text()).values()))


def invoice(lmt: str | None, **changes) -> dict:
    record = fixture_record("invoice")
    record["last_modified_time"] = lmt
    record.update(changes)
    return record


def apply(entity: str, record: dict, operation: str = "upsert"):
    return apply_event(entity, operation, record, timezone.now())


def test_newer_change_applies_and_older_is_skipped_as_stale():
    assert not apply("invoices", invoice("2025-03-05T14:07:58+0300")).stale
    newer = apply("invoices", invoice("2025-03-06T09:00:00+0300", status="paid", balance=0))
    assert not newer.stale
    older = apply("invoices", invoice("2025-03-05T20:00:00+0300", status="sent"))
    assert older.stale
    row = erp.Invoice.objects.get()
    assert (row.status, row.balance) == ("paid", Decimal("0"))
    assert row.zoho_last_modified == datetime(2025, 3, 6, 6, 0, tzinfo=UTC)


def test_instants_are_compared_not_strings():
    # 10:00+0300 is 07:00 UTC, earlier than 08:00 UTC although the string sorts later.
    apply("invoices", invoice("2025-03-05T08:00:00Z", status="paid"))
    assert apply("invoices", invoice("2025-03-05T10:00:00+0300")).stale
    assert erp.Invoice.objects.get().status == "paid"


def test_equal_timestamp_reapplies_idempotently():
    record = invoice("2025-03-05T14:07:58+0300")
    apply("invoices", record)
    assert not apply("invoices", record).stale
    assert erp.Invoice.objects.count() == 1
    assert erp.InvoiceLine.objects.count() == 2


def test_undated_changes_apply_in_arrival_order_and_keep_the_stored_time():
    apply("invoices", invoice("2025-03-05T14:07:58+0300"))
    assert not apply("invoices", invoice(None, status="void")).stale
    row = erp.Invoice.objects.get()
    assert row.status == "void"
    assert row.zoho_last_modified == datetime(2025, 3, 5, 11, 7, 58, tzinfo=UTC)


def test_delete_then_older_update_stays_deleted():
    apply("invoices", invoice("2025-03-05T14:07:58+0300"))
    apply("invoices", invoice("2025-03-06T09:00:00+0300"), operation="delete")
    row = erp.Invoice.objects.get()
    assert row.is_deleted and row.deleted_at is not None
    stale = apply("invoices", invoice("2025-03-05T14:07:58+0300", status="sent"))
    assert stale.stale
    undated = apply("invoices", invoice(None, status="sent"))
    assert undated.stale
    same_time = apply("invoices", invoice("2025-03-06T09:00:00+0300", status="sent"))
    assert same_time.stale
    assert erp.Invoice.objects.get().is_deleted


def test_delete_before_create_leaves_a_tombstone_that_blocks_the_older_create():
    apply("invoices", {"invoice_id": "2851937000000052033"}, operation="delete")
    assert erp.Invoice.objects.get().is_deleted
    assert apply("invoices", invoice("2025-03-05T14:07:58+0300")).stale


def test_a_provably_newer_change_revives_a_deleted_record():
    apply("invoices", invoice("2025-03-05T14:07:58+0300"), operation="delete")
    after_the_delete = (timezone.now() + timedelta(minutes=5)).isoformat()
    revived = apply("invoices", invoice(after_the_delete, status="draft"))
    assert not revived.stale
    row = erp.Invoice.objects.get()
    assert (row.is_deleted, row.deleted_at, row.status) == (False, None, "draft")


def test_lines_are_replaced_whole_and_absent_key_leaves_them():
    apply("invoices", invoice("2025-03-05T14:07:58+0300"))
    one_line = invoice("2025-03-06T00:00:00+0300")
    one_line["line_items"] = one_line["line_items"][:1]
    apply("invoices", one_line)
    assert erp.InvoiceLine.objects.count() == 1
    sparse = {"invoice_id": "2851937000000052033", "status": "paid", "last_modified_time": ""}
    apply("invoices", sparse)
    row = erp.Invoice.objects.get()
    assert erp.InvoiceLine.objects.count() == 1
    # A sparse payload changes only what it carries.
    assert (row.status, row.number, row.total) == ("paid", "INV-000871", Decimal("1484000"))
    empty = invoice("2025-03-07T00:00:00+0300", line_items=[])
    apply("invoices", empty)
    assert erp.InvoiceLine.objects.count() == 0


def test_links_resolve_when_present_and_backfill_when_the_record_arrives_later():
    apply("invoices", invoice("2025-03-05T14:07:58+0300"))
    row = erp.Invoice.objects.get()
    assert row.customer_id is None and row.customer_zoho_id == "2851937000000038005"
    assert all(line.product_id is None for line in row.lines.all())
    apply("customers", fixture_record("contact_customer"))
    apply("products", fixture_record("item"))
    row.refresh_from_db()
    assert row.customer == erp.Customer.objects.get()
    first, second = row.lines.order_by("position")
    assert first.product == erp.Product.objects.get()
    assert second.product_id is None  # that item has not been synced


def test_tolerant_parsing_of_what_zoho_really_sends():
    record = {
        "item_id": 2851937000000041017,
        "name": "Cable",
        "rate": "1250.50",
        "purchase_rate": "",
        "stock_on_hand": " ",
        "status": "active",
        "last_modified_time": "2013-01-24",
    }
    apply("products", record)
    row = erp.Product.objects.get()
    assert row.zoho_id == "2851937000000041017"
    assert (row.rate, row.purchase_rate, row.stock_on_hand) == (Decimal("1250.50"), None, None)
    assert row.zoho_last_modified == datetime(2013, 1, 24, tzinfo=UTC)
    bill = fixture_record("bill")
    bill["due_date"] = " "
    apply("bills", bill)
    assert erp.Bill.objects.get().due_date is None
    assert erp.Bill.objects.get().date == date(2025, 2, 20)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": "abc"}, "total"),
        ({"date": "02/03/2025"}, "date"),
        ({"last_modified_time": "yesterday"}, "last_modified_time"),
        ({"line_items": [{"item_id": "1", "quantity": "many"}]}, "line_items[1].quantity"),
        ({"line_items": "none"}, "line_items"),
        ({"customer_id": {"id": 1}}, "customer_id"),
    ],
)
def test_unstorable_values_raise_an_error_naming_the_field(change, field):
    record = invoice("2025-03-05T14:07:58+0300", **change)
    with pytest.raises(FieldValueError) as caught:
        apply("invoices", record)
    assert str(caught.value).startswith(f"{field}: ")


def test_converters():
    assert to_decimal("x", 0.1) == Decimal("0.1")
    assert to_decimal("x", "1,250.5") == Decimal("1250.5")
    assert to_timestamp("t", "2013-11-18T02:17:40-0800") == datetime(
        2013, 11, 18, 10, 17, 40, tzinfo=UTC
    )
    assert to_timestamp("t", "2025-03-01T12:00:00+05:30").utcoffset().total_seconds() == 0
    with pytest.raises(FieldValueError):
        to_decimal("x", "NaN")
    with pytest.raises(FieldValueError):
        to_decimal("x", True)


def test_contact_falls_back_to_the_primary_person():
    record = fixture_record("contact_customer")
    del record["email"], record["phone"]
    record["contact_persons"] = [
        {"email": "other@example.com", "phone": "1", "is_primary_contact": False},
        {"email": "main@example.com", "phone": "2", "is_primary_contact": True},
    ]
    apply("customers", record)
    row = erp.Customer.objects.get()
    assert (row.email, row.phone) == ("main@example.com", "2")


def test_an_undated_delete_is_not_undone_by_an_update_zoho_made_before_it():
    apply("invoices", invoice("2025-03-05T14:07:58+0300"))
    apply("invoices", {"invoice_id": "2851937000000052033"}, operation="delete")
    # Made in Zoho before the delete (so before it reached us), delivered late.
    late = apply("invoices", invoice("2025-03-06T09:00:00+0300", status="sent"))
    assert late.stale
    assert erp.Invoice.objects.get().is_deleted


def test_text_longer_than_its_column_names_the_field():
    record = fixture_record("item") | {"unit": "u" * 40}
    with pytest.raises(FieldValueError, match=r"^unit: .* is longer than 32 characters"):
        apply("products", record)
