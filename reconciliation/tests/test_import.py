"""``tds_import``: the first full import, page by page, resumable after a crash or after the
daily budget runs out, against the fake Zoho."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from entities.models import Invoice, Product
from reconciliation.budget import today
from reconciliation.models import ApiUsage, ImportCheckpoint
from reconciliation.zoho_api import ZOHO_LISTS
from syncqueue.models import QueueEntry
from syncqueue.processing import drain
from tests.factories import zoho_id, zoho_record

pytestmark = pytest.mark.django_db


def plain(record: dict) -> dict:
    return json.loads(json.dumps(record, default=float))


def records(entity: str, count: int, first: int = 0) -> list[dict]:
    return [plain(zoho_record(entity, zoho_id(first + n))) for n in range(count)]


def run_import(capsys, *args: str) -> str:
    call_command("tds_import", *args)
    return capsys.readouterr().out


def queued_once(entity: str) -> set[str]:
    """The record ids queued for ``entity``, asserting none is queued twice."""
    counts = dict(
        QueueEntry.objects.filter(entity=entity)
        .values_list("record_id")
        .annotate(n=Count("id"))
        .values_list("record_id", "n")
    )
    assert set(counts.values()) <= {1}, {k: v for k, v in counts.items() if v > 1}
    return set(counts)


def a_day_passes() -> None:
    ApiUsage.objects.filter(day=today()).update(day=today() - timedelta(days=1))


def test_every_module_is_imported_page_by_page_with_a_progress_line_each(zoho, capsys):
    zoho.records["items"] = records("products", 450)
    zoho.records["contacts"] = records("customers", 3) + records("vendors", 2, first=100)
    zoho.records["invoices"] = records("invoices", 2, first=200)

    out = run_import(capsys)

    lines = out.splitlines()
    assert lines[:4] == [
        "item: page 1, 200 records so far, 200 queued, budget left 1999",
        "item: page 2, 400 records so far, 400 queued, budget left 1998",
        "item: page 3, 450 records so far, 450 queued, budget left 1997",
        "item: done, 3 pages, 450 records, 450 queued",
    ]
    assert "contact: page 1, 5 records so far, 5 queued, budget left 1996" in lines
    # Invoices: one list call, then each one whole (lists leave the lines out).
    assert "invoice: page 1, 2 records so far, 2 queued, budget left 1993" in lines
    assert lines[-1] == "import complete: 457 queued by this run"
    for zoho_list in ZOHO_LISTS.values():
        assert zoho.api_requests(zoho_list.path), zoho_list.path  # every module was read
        checkpoint = ImportCheckpoint.objects.get(module=zoho_list.module)
        assert checkpoint.finished_at is not None
    assert len(queued_once("products")) == 450
    assert len(queued_once("customers")) == 3 and len(queued_once("vendors")) == 2
    invoices = QueueEntry.objects.filter(entity="invoices")
    assert all(len(entry.payload["line_items"]) == 2 for entry in invoices)
    assert set(QueueEntry.objects.values_list("source", "operation")) == {
        ("reconciliation", "update")
    }
    assert zoho.drains == [1]

    drain(budget_seconds=30)
    assert Product.objects.count() == 450
    assert Invoice.objects.get(zoho_id=zoho_id(200)).lines.count() == 2


def test_a_finished_import_is_not_repeated_unless_restarted(zoho, capsys):
    zoho.records["items"] = records("products", 3)
    run_import(capsys, "--module", "item")
    out = run_import(capsys, "--module", "items")
    assert out.startswith("item: already imported (3 records, finished ")
    assert len(zoho.api_requests("items")) == 1

    # Restarted, it reads everything again but queues nothing already waiting.
    out = run_import(capsys, "--module", "products", "--restart")
    assert "item: page 1, 3 records so far, 0 queued" in out
    assert len(queued_once("products")) == 3
    zoho.records["items"].append(plain(zoho_record("products", zoho_id(9))))
    out = run_import(capsys, "--module", "item", "--restart")
    assert "item: page 1, 4 records so far, 1 queued" in out
    assert len(queued_once("products")) == 4


def test_the_budget_running_out_stops_cleanly_and_the_next_day_continues(zoho, capsys, settings):
    settings.ZOHO_API_DAILY_BUDGET = 2
    zoho.records["items"] = records("products", 450)

    with pytest.raises(CommandError) as stopped:
        run_import(capsys, "--module", "item")

    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith("import stopped: the Zoho API budget for ")
    assert message.endswith("it continues at item page 3")
    assert capsys.readouterr().out.splitlines()[-1] == (
        "item: page 2, 400 records so far, 400 queued, budget left 0"
    )
    assert ImportCheckpoint.objects.get(module="item").next_page == 3
    assert len(zoho.books_requests()) == 2

    a_day_passes()
    out = run_import(capsys, "--module", "item")
    assert out.splitlines()[0] == "item: resuming at page 3"
    assert [r.query["page"] for r in zoho.api_requests("items")] == ["1", "2", "3"]
    assert len(queued_once("products")) == 450


def test_a_page_cut_short_by_the_budget_keeps_what_it_fetched(zoho, capsys, settings):
    settings.ZOHO_API_DAILY_BUDGET = 2  # the list, and one invoice in full
    zoho.records["invoices"] = records("invoices", 3)

    with pytest.raises(CommandError, match=r"continues at invoice page 1$"):
        run_import(capsys, "--module", "invoice")
    assert "invoice: page 1 stopped part-way, 1 queued; budget left 0" in capsys.readouterr().out
    assert queued_once("invoices") == {zoho_id(0)}

    a_day_passes()
    settings.ZOHO_API_DAILY_BUDGET = 3  # the list again, and the two invoices left
    run_import(capsys, "--module", "invoice")
    assert queued_once("invoices") == {zoho_id(0), zoho_id(1), zoho_id(2)}
    # The invoice queued before was not fetched again.
    assert len(zoho.api_requests(f"invoices/{zoho_id(0)}")) == 1
    checkpoint = ImportCheckpoint.objects.get(module="invoice")
    assert (checkpoint.pages_done, checkpoint.records_seen, checkpoint.queued) == (1, 3, 3)


def test_rate_limits_and_expiring_tokens_do_not_stop_an_import(zoho, capsys):
    zoho.records["items"] = records("products", 1000)
    zoho.rate_limit_every = 3
    zoho.retry_after = "0"
    zoho.token_calls = 2
    out = run_import(capsys, "--module", "item")
    assert "item: done, 5 pages, 1000 records, 1000 queued" in out
    assert len(queued_once("products")) == 1000
    assert len(zoho.token_requests) > 2


@pytest.mark.parametrize("name", ["widgets", "item_id", ""])
def test_an_unknown_module_is_refused_by_name(zoho, name):
    with pytest.raises(CommandError, match=r"^--module: "):
        call_command("tds_import", "--module", name)
    assert zoho.requests == []


def test_without_credentials_the_import_says_which_are_missing(zoho, settings):
    settings.ZOHO_CLIENT_SECRET = None
    with pytest.raises(CommandError, match="ZOHO_CLIENT_SECRET not set"):
        call_command("tds_import")
