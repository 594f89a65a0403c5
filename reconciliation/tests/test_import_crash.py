"""``tds_import`` killed with SIGKILL mid-run, then run again: a real process, a real
database (PostgreSQL in CI's second pass), the fake Zoho in this process. Every record ends
queued exactly once."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
from django.db.models import Count

from reconciliation.models import ImportCheckpoint
from reconciliation.tests.fake_zoho import FakeZoho, FakeZohoServer
from syncqueue.models import QueueEntry
from tests.factories import zoho_id, zoho_record
from tests.live import process_env
from tests.processes import LiveProcess, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ITEMS, INVOICES = 1000, 250  # five pages of items, two of invoices


def plain(record: dict) -> dict:
    return json.loads(json.dumps(record, default=float))


def start_import(zoho: FakeZoho, tmp_path: Path, name: str) -> LiveProcess:
    return LiveProcess(
        [sys.executable, "manage.py", "tds_import", "--module", "item", "--module", "invoice"],
        process_env(**zoho.env()),
        tmp_path / f"{name}.log",
    )


def kill_when_held(zoho: FakeZoho, process: LiveProcess, hold) -> str:
    """Hold the request ``hold`` picks, SIGKILL the import while it waits for it."""
    zoho.held.clear()
    zoho.release.clear()
    zoho.hold = hold
    wait_until(zoho.held.is_set, 60, process.output)
    process.kill_group(signal.SIGKILL)
    process.proc.wait(10)
    zoho.hold = None
    zoho.release.set()
    return process.output()


def queued_per_record(entity: str) -> dict[str, int]:
    return dict(
        QueueEntry.objects.filter(entity=entity)
        .values_list("record_id")
        .annotate(n=Count("id"))
        .values_list("record_id", "n")
    )


def is_list_page(path: str, page: int):
    return lambda r: r.path == f"/books/v3/{path}" and r.query.get("page") == str(page)


def test_a_killed_import_continues_where_it_stopped_losing_and_repeating_nothing(tmp_path):
    items = [plain(zoho_record("products", zoho_id(n))) for n in range(ITEMS)]
    invoices = [plain(zoho_record("invoices", zoho_id(10_000 + n))) for n in range(INVOICES)]
    tenth_of_page_2 = f"/books/v3/invoices/{invoices[209]['invoice_id']}"
    zoho = FakeZoho(records={"items": items, "invoices": invoices})
    with FakeZohoServer(zoho):
        # 1. Killed while waiting for items page 4: pages 1-3 are committed.
        first = start_import(zoho, tmp_path, "first")
        out = kill_when_held(zoho, first, is_list_page("items", 4))
        assert "item: page 3, 600 records so far, 600 queued" in out
        assert "item: page 4" not in out
        assert ImportCheckpoint.objects.get(module="item").next_page == 4
        assert len(queued_per_record("products")) == 600

        # 2. Killed in the middle of invoices page 2, nine of its invoices fetched in full
        # but not committed: page 1's 200 are, page 2's none.
        second = start_import(zoho, tmp_path, "second")
        out = kill_when_held(zoho, second, lambda r: r.path == tenth_of_page_2)
        assert "item: resuming at page 4" in out
        assert "item: done, 5 pages, 1000 records, 1000 queued" in out
        assert "invoice: page 1, 200 records so far, 200 queued" in out
        checkpoint = ImportCheckpoint.objects.get(module="invoice")
        assert (checkpoint.next_page, checkpoint.finished_at) == (2, None)
        assert len(queued_per_record("invoices")) == 200

        # 3. Run to the end.
        third = start_import(zoho, tmp_path, "third")
        assert third.proc.wait(120) == 0, third.output()
        out = third.output()
        third.stop()
        assert "item: already imported (1000 records" in out
        assert "invoice: resuming at page 2" in out
        assert "invoice: done, 2 pages, 250 records, 250 queued" in out

    products, documents = queued_per_record("products"), queued_per_record("invoices")
    assert set(products) == {item["item_id"] for item in items}
    assert set(documents) == {invoice["invoice_id"] for invoice in invoices}
    assert set(products.values()) == set(documents.values()) == {1}  # none queued twice
    # Pages read: items 1-4 (4 killed) then 4-5; invoices 1-2 (2 killed mid-way) then 2.
    pages = [
        (r.path.rsplit("/", 1)[1], r.query["page"])
        for r in zoho.books_requests()
        if "page" in r.query
    ]
    assert pages == [
        *[("items", str(n)) for n in (1, 2, 3, 4, 4, 5)],
        *[("invoices", str(n)) for n in (1, 2, 2)],
    ]
