"""Links that wait for their record: filled when it arrives, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from entities import models as erp
from entities.engine import apply_event

pytestmark = pytest.mark.django_db


def test_a_record_arriving_later_fills_every_link_waiting_for_it():
    now = timezone.now()
    apply_event(
        "invoices",
        "upsert",
        {
            "invoice_id": "I1",
            "customer_id": "C1",
            "line_items": [{"line_item_id": "L1", "item_id": "P1", "quantity": 1}],
        },
        now,
    )
    apply_event("payments", "upsert", {"payment_id": "PAY1", "customer_id": "C1"}, now)
    apply_event(
        "stock-adjustments",
        "upsert",
        {"inventory_adjustment_id": "A1", "line_items": [{"item_id": "P1"}]},
        now,
    )
    invoice = erp.Invoice.objects.get(zoho_id="I1")
    assert invoice.customer_id is None and invoice.lines.get().product_id is None

    customer = apply_event("customers", "upsert", {"contact_id": "C1"}, now).row_id
    product = apply_event("products", "upsert", {"item_id": "P1"}, now).row_id

    invoice.refresh_from_db()
    assert invoice.customer_id == customer
    assert invoice.lines.get().product_id == product
    assert erp.Payment.objects.get().customer_id == customer
    assert erp.StockAdjustmentLine.objects.get().product_id == product
    # Other records' links are left alone.
    apply_event("products", "upsert", {"item_id": "P2"}, now)
    assert invoice.lines.get().product_id == product


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL plan")
def test_a_backfill_reaches_the_unlinked_lines_through_their_own_index():
    # As the worker plans it (one index per statement), on tables analyzed while empty: the
    # only index that can find "product_id IS NULL" is the one of unlinked lines by item.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invoice_lines")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "EXPLAIN UPDATE invoice_lines SET product_id = 1 "
            "WHERE item_zoho_id = 'P1' AND product_id IS NULL"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "invoiceline_no_product" in plan, plan
