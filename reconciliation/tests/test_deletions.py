"""``tds_reconcile --deletions``: ids gone from Zoho are found by comparing id sets and
queued as deletes, never on the strength of an incomplete listing."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from entities.engine import apply_event
from entities.models import Customer, Product, Vendor
from reconciliation.deletions import scheduled_deletions
from reconciliation.models import ReconciliationRun, RunKind
from reconciliation.zoho_api import PER_PAGE
from syncqueue.models import QueueEntry
from syncqueue.processing import drain
from tests.factories import QueueEntryFactory, zoho_id, zoho_record

pytestmark = pytest.mark.django_db

AN_HOUR_AGO = timezone.now() - timedelta(hours=1)


def plain(record: dict) -> dict:
    """The record as Zoho's JSON has it (the factories read numbers as Decimal)."""
    return json.loads(json.dumps(record, default=float))


def in_erp(entity: str, *numbers: int) -> list[dict]:
    """ERP rows for these ids, synced an hour ago (before any listing of the test)."""
    records = [plain(zoho_record(entity, zoho_id(n))) for n in numbers]
    for record in records:
        apply_event(entity, "update", record, AN_HOUR_AGO)
    return records


def deletions(capsys, *args: str) -> str:
    call_command("tds_reconcile", "--deletions", *args)
    return capsys.readouterr().out


def queued_deletes() -> list[tuple[str, str]]:
    return sorted(QueueEntry.objects.filter(operation="delete").values_list("entity", "record_id"))


def test_ids_missing_from_zohos_listing_are_queued_as_deletes_and_applied(zoho, capsys):
    kept = in_erp("products", *range(450))
    gone = in_erp("products", 1000, 1001)
    zoho.records["items"] = kept  # three pages of ids

    out = deletions(capsys, "--entity", "products")

    assert (
        "products: listed in Zoho 450, ERP records 452, not listed 2, "
        "deleted in Zoho 2 (queued), still there 0"
    ) in out
    listing = zoho.api_requests("items")
    assert [r.query["page"] for r in listing] == ["1", "2", "3"]
    assert {r.query["per_page"] for r in listing} == {str(PER_PAGE)}
    # Each absent id was confirmed gone by its own GET (404) before being queued.
    for record in gone:
        assert len(zoho.api_requests(f"items/{record['item_id']}")) == 1
    assert queued_deletes() == [("products", zoho_id(1000)), ("products", zoho_id(1001))]
    entry = QueueEntry.objects.get(record_id=zoho_id(1000))
    assert (entry.source, entry.payload) == ("reconciliation", {"item_id": zoho_id(1000)})
    assert zoho.drains == []  # the worker's poll finds them; applying them here:

    assert drain(budget_seconds=10) == 2
    assert set(Product.objects.filter(is_deleted=True).values_list("zoho_id", flat=True)) == {
        zoho_id(1000),
        zoho_id(1001),
    }
    assert Product.objects.filter(is_deleted=False).count() == 450

    run = ReconciliationRun.objects.get(kind=RunKind.DELETIONS)
    assert (run.entity, run.succeeded, run.seen, run.missing, run.deleted, run.queued) == (
        "products",
        True,
        450,
        2,
        2,
        2,
    )
    # A second pass finds nothing more to do: deleted rows are not compared.
    out = deletions(capsys, "--entity", "products")
    assert "not listed 0, deleted in Zoho 0" in out
    assert len(queued_deletes()) == 2


def test_an_error_mid_listing_queues_no_delete_at_all(zoho, capsys):
    zoho.records["items"] = in_erp("products", *range(450))
    zoho.broken_pages["items"] = 2  # page 1 read, page 2 fails (after its retries)

    with pytest.raises(CommandError, match="failed for: products"):
        deletions(capsys, "--entity", "products")

    assert "products: FAILED deletions pass: GET items: HTTP 500" in capsys.readouterr().out
    # 250 ERP records were not seen on page 1, yet none is queued, none even checked.
    assert QueueEntry.objects.count() == 0
    assert {r.query["page"] for r in zoho.api_requests("items")} == {"1", "2"}
    assert [r.path for r in zoho.books_requests() if r.path != "/books/v3/items"] == []
    run = ReconciliationRun.objects.get()
    assert (run.kind, run.succeeded, run.deleted) == (RunKind.DELETIONS, False, 0)
    assert "HTTP 500" in run.error


def test_a_record_that_zoho_still_has_is_not_deleted(zoho, capsys):
    """Pages can shift while they are read: an id missing from the listing is confirmed."""
    kept = in_erp("products", 1, 2)
    shifted = in_erp("products", 3)
    zoho.records["items"] = kept
    zoho.details[f"items/{shifted[0]['item_id']}"] = {"item": shifted[0]}

    out = deletions(capsys, "--entity", "products")

    assert "not listed 1, deleted in Zoho 0 (queued), still there 1" in out
    assert QueueEntry.objects.count() == 0


def test_rows_written_after_the_listing_began_or_with_a_delete_waiting_are_left_alone(zoho, capsys):
    in_erp("products", 1)
    # Created in Zoho and applied from its webhook after the listing began (stamped later
    # than the pass's start): its page may have been read before it existed.
    later = timezone.now() + timedelta(minutes=1)
    apply_event("products", "update", plain(zoho_record("products", zoho_id(2))), later)
    in_erp("products", 3)
    QueueEntryFactory(entity="products", record_id=zoho_id(3), operation="delete")
    zoho.records["items"] = []

    out = deletions(capsys, "--entity", "products")

    assert "ERP records 2, not listed 2, deleted in Zoho 1 (queued)" in out
    assert queued_deletes() == [("products", zoho_id(1)), ("products", zoho_id(3))]
    assert QueueEntry.objects.filter(record_id=zoho_id(3)).count() == 1  # not twice


def test_contacts_are_listed_once_for_customers_and_vendors(zoho, capsys):
    customers = in_erp("customers", 1, 2)
    vendors = in_erp("vendors", 3)
    # Contact 2 turned into a vendor in Zoho: listed, so not deleted.
    turned = dict(customers[1], contact_type="vendor")
    zoho.records["contacts"] = [customers[0], turned]

    out = deletions(capsys, "--entity", "contacts")

    assert len(zoho.api_requests("contacts")) == 1
    assert zoho.api_requests("contacts")[0].query["filter_by"] == "Status.All"
    assert "customers: listed in Zoho 1, ERP records 2, not listed 0" in out
    assert "vendors: listed in Zoho 1, ERP records 1, not listed 1, deleted in Zoho 1" in out
    assert queued_deletes() == [("vendors", vendors[0]["contact_id"])]
    drain(budget_seconds=10)
    assert Vendor.objects.get(zoho_id=vendors[0]["contact_id"]).is_deleted
    assert not Customer.objects.filter(is_deleted=True).exists()


def test_dry_run_compares_without_confirming_or_queueing(zoho, capsys):
    in_erp("products", 1, 2)
    zoho.records["items"] = []
    out = deletions(capsys, "--entity", "products", "--dry-run")
    assert "not listed 2, would confirm 2" in out
    assert [r.path for r in zoho.books_requests()] == ["/books/v3/items"]
    assert QueueEntry.objects.count() == ReconciliationRun.objects.count() == 0


def test_the_budget_running_out_stops_the_pass_cleanly(zoho, capsys, settings, caplog):
    settings.ZOHO_API_DAILY_BUDGET = 3
    in_erp("products", *range(5))
    zoho.records["items"] = []  # one listing call, then one GET per absent id
    with caplog.at_level(logging.WARNING), pytest.raises(CommandError) as stopped:
        deletions(capsys)
    message = str(stopped.value)
    assert message.startswith("reconciliation stopped at products: the Zoho API budget")
    assert "3 of 3 calls" in message and "not reached: customers, vendors" in message
    assert "\n" not in message
    # The two confirmed before the budget ran out are queued; the rest waits for tomorrow.
    assert len(queued_deletes()) == 2
    assert len(zoho.books_requests()) == 3
    assert not [r for r in caplog.records if r.exc_info]  # no traceback in the logs
    assert list(ReconciliationRun.objects.values_list("entity", "succeeded")) == [
        ("products", False)
    ]


def test_the_worker_runs_the_pass_daily_unless_the_budget_is_spent(zoho, settings):
    from django_q.models import Schedule

    from reconciliation.reconcile import DELETIONS_SCHEDULE_NAME, ensure_reconcile_schedule

    ensure_reconcile_schedule()
    schedule = Schedule.objects.get(name=DELETIONS_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == (
        "reconciliation.deletions.scheduled_deletions",
        Schedule.DAILY,
    )
    in_erp("products", 1)
    assert scheduled_deletions() == "queued 1"
    settings.ZOHO_API_DAILY_BUDGET = len(zoho.books_requests())
    assert scheduled_deletions() == "skipped: today's Zoho API budget is used up"
    settings.ZOHO_REFRESH_TOKEN = None
    ensure_reconcile_schedule()
    assert not Schedule.objects.filter(name=DELETIONS_SCHEDULE_NAME).exists()
