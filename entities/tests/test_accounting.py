"""Documents must add up: lines to sub-total; sub-total, discount, tax, adjustment and
shipping to total. A mismatch is applied and flagged, and cleared by a version that adds up."""

from __future__ import annotations

import copy
import json

import pytest
from django.utils import timezone

from entities.accounting import totals_mismatch
from entities.engine import apply_event
from entities.models import DocumentMismatch, Invoice
from tests.factories import zoho_record
from tests.support import FIXTURES

INVOICE = json.loads((FIXTURES / "invoice.json").read_text())["invoice"]  # 740,000 + 744,000


def invoice(**changes) -> dict:
    return {**copy.deepcopy(INVOICE), **changes}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"discount": "10%", "total": 1335600},  # a percentage of the sub-total
        {"discount_amount": 4000, "discount": 9, "total": 1480000},  # the amount wins
        {"tax_total": 148400, "total": 1632400},
        {"tax_total": 148400, "is_inclusive_tax": True},  # prices hold the tax already
        {"adjustment": -0.5, "shipping_charge": 10000, "total": 1493999.5},
        {"total": 1484000.02},  # rounding: within a cent per term
        {"discount_type": "item_level", "discount": 5000},  # already in the lines
    ],
)
def test_documents_that_add_up(changes):
    assert totals_mismatch(invoice(**changes)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"total": 1500000}, "= 1484000, total is 1500000"),
        ({"sub_total": 1400000, "total": 1400000}, "the lines add up to 1484000, sub_total is"),
        ({"adjustment": "abc"}, "adjustment 'abc' is not a number"),
    ],
)
def test_documents_that_do_not(changes, reason):
    assert reason in totals_mismatch(invoice(**changes))


def test_a_sparse_record_has_nothing_to_check():
    sparse = {"invoice_id": "1", "status": "paid", "total": 10}
    assert totals_mismatch(sparse) is None


@pytest.mark.django_db
class TestFlagged:
    def apply(self, record: dict, operation: str = "update"):
        return apply_event("invoices", operation, record, timezone.now())

    def test_a_mismatch_is_applied_flagged_and_cleared_by_a_version_that_adds_up(self):
        wrong = invoice(total=1500000)
        assert not self.apply(wrong).stale
        assert Invoice.objects.get(zoho_id=INVOICE["invoice_id"]).total == 1500000
        [flag] = DocumentMismatch.objects.all()
        assert (flag.entity, flag.record_id) == ("invoices", INVOICE["invoice_id"])
        assert "total is 1500000" in flag.reason

        sparse = {"invoice_id": INVOICE["invoice_id"], "status": "paid", "total": 1500000}
        self.apply(sparse)  # without its lines: nothing to check, the flag stays
        assert DocumentMismatch.objects.count() == 1

        self.apply(invoice(last_modified_time="2030-01-01T00:00:00+0000"))
        assert not DocumentMismatch.objects.exists()

    def test_a_deleted_document_is_no_longer_flagged(self):
        self.apply(invoice(total=1))
        self.apply({"invoice_id": INVOICE["invoice_id"]}, operation="delete")
        assert not DocumentMismatch.objects.exists()

    def test_a_stale_mismatching_version_flags_nothing(self):
        self.apply(invoice(last_modified_time="2030-01-01T00:00:00+0000"))
        assert self.apply(invoice(total=1)).stale
        assert not DocumentMismatch.objects.exists()

    def test_other_documents_are_checked_too(self):
        bill = json.loads(json.dumps(zoho_record("bills", "77", total=1), default=float))
        apply_event("bills", "update", bill, timezone.now())
        assert DocumentMismatch.objects.get().entity == "bills"


@pytest.mark.django_db
def test_flagged_documents_raise_an_alert_and_filter_in_the_admin(client):
    from alerts.models import Alert
    from alerts.monitor import run_monitor
    from tests.factories import UserFactory

    apply_event("invoices", "update", invoice(total=1500000), timezone.now())
    good = invoice(invoice_id="4600000000999", invoice_number="INV-OK")
    apply_event("invoices", "update", good, timezone.now())
    run_monitor()
    alert = Alert.objects.get(code="document_mismatch")
    assert alert.severity == "warning"
    assert f"invoices {INVOICE['invoice_id']}" in alert.message

    client.force_login(UserFactory(superuser=True))
    flagged = client.get("/admin/entities/invoice/", {"adds_up": "no"}).content.decode()
    assert INVOICE["invoice_number"] in flagged and "INV-OK" not in flagged
    fine = client.get("/admin/entities/invoice/", {"adds_up": "yes"}).content.decode()
    assert "INV-OK" in fine and INVOICE["invoice_number"] not in fine
    listing = client.get("/admin/entities/documentmismatch/").content.decode()
    assert "total is 1500000" in listing

    apply_event(
        "invoices", "update", invoice(last_modified_time="2031-01-01T00:00:00Z"), timezone.now()
    )
    run_monitor()
    assert Alert.objects.get(code="document_mismatch").status == "resolved"
