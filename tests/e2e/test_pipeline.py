"""Webhook → live gunicorn → live qcluster → ERP rows, for every fixture module."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from entities import models as erp
from syncqueue.models import QueueEntry
from tests.live import live_api, live_worker
from tests.processes import wait_until
from tests.support import FIXTURE_ENTITIES, FIXTURES, post_signed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_every_fixture_module_reaches_its_erp_table(tmp_path):
    with live_api(tmp_path) as base, live_worker(tmp_path):
        for name, (path_entity, _) in FIXTURE_ENTITIES.items():
            body = (FIXTURES / f"{name}.json").read_bytes()
            response = post_signed(base, f"/webhooks/zoho/{path_entity}/", body)
            assert response.status_code == 202, response.text
        wait_until(
            lambda: QueueEntry.objects.filter(status="completed").count() == len(FIXTURE_ENTITIES),
            30,
            lambda: str(list(QueueEntry.objects.values_list("entity", "status", "last_error"))),
        )

    product = erp.Product.objects.get(zoho_id="2851937000000041017")
    assert (product.name, product.sku, product.rate) == (
        "LED Panel Light 60x60 48W",
        "LP-6060-48W",
        Decimal("18500"),
    )
    assert product.stock_on_hand == Decimal("340")
    assert product.zoho_last_modified.isoformat() == "2025-02-11T06:14:27+00:00"

    customer = erp.Customer.objects.get(zoho_id="2851937000000038005")
    assert customer.email == "purchasing@almansour-elec.iq"
    assert customer.currency_code == "IQD"
    vendor = erp.Vendor.objects.get()
    assert vendor.currency_code == "USD"

    invoice = erp.Invoice.objects.get(zoho_id="2851937000000052033")
    assert (invoice.number, invoice.status) == ("INV-000871", "partially_paid")
    assert (invoice.total, invoice.balance) == (Decimal("1484000"), Decimal("984000"))
    assert invoice.customer_zoho_id == "2851937000000038005"
    lines = list(invoice.lines.order_by("position"))
    assert [(line.item_zoho_id, line.quantity, line.item_total) for line in lines] == [
        ("2851937000000041017", Decimal("40"), Decimal("740000")),
        ("2851937000000041029", Decimal("12"), Decimal("744000")),
    ]

    bill = erp.Bill.objects.get()
    assert bill.vendor_zoho_id == vendor.zoho_id and bill.currency_code == "USD"
    assert bill.lines.get(position=1).rate == Decimal("9.85")

    expected = {
        erp.CreditNote: "creditnote",
        erp.SalesOrder: "salesorder",
        erp.Payment: "payment",
        erp.StockAdjustment: "inventory_adjustment",
        erp.PriceList: "pricebook",
    }
    for model, name in expected.items():
        record = json.loads((FIXTURES / f"{name}.json").read_text())[name]
        row = model.objects.get()
        assert row.raw == record
        assert row.is_deleted is False
    assert erp.Payment.objects.get().amount == Decimal("500000")
    assert erp.Payment.objects.get().number == "211"
    adjustment = erp.StockAdjustment.objects.get()
    assert adjustment.lines.get(position=1).quantity_adjusted == Decimal("-6")
    assert erp.PriceList.objects.get().items.get(position=1).rate == Decimal("17250")


def test_idle_workers_pick_up_an_event_without_waiting_for_the_poll(tmp_path):
    # The poll runs once a minute here: only the dispatch after commit can be this quick.
    with live_api(tmp_path) as base, live_worker(tmp_path, WORKER_POLL_INTERVAL="60") as worker:
        wait_until(lambda: "worker started" in worker.output(), 30, worker.output)
        body = (FIXTURES / "item.json").read_bytes()
        assert post_signed(base, "/webhooks/zoho/products", body).status_code == 202
        wait_until(lambda: erp.Product.objects.exists(), 15, worker.output)
