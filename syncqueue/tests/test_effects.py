"""The effect ledger: each applied event's changes, column by column, lines summarised.

The same tests run on PostgreSQL (the changes computed inside the event's one statement)
and on SQLite (read before and after), so both ways agree.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from syncqueue.models import RecordEffect
from syncqueue.processing import drain
from tests.factories import QueueEntryFactory
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db


def invoice() -> dict:
    return json.loads((FIXTURES / "invoice.json").read_text())["invoice"]


def money(value: float | int) -> str:
    """As the ERP's money columns (6 decimal places) hold it."""
    return f"{Decimal(str(value)):.6f}"


def apply(record: dict, operation: str = "update", entity: str = "invoices"):
    entry = QueueEntryFactory(entity=entity, record=record, operation=operation)
    assert drain("w") == 1
    return entry


def effects() -> list[dict]:
    return list(RecordEffect.objects.order_by("id").values("entry_id", "changes"))


def test_a_new_record_shows_every_column_set_and_its_lines_counted():
    record = invoice()
    entry = apply(record)
    [effect] = RecordEffect.objects.all()
    assert (effect.entity, effect.record_id) == ("invoices", record["invoice_id"])
    assert (effect.entry_id, effect.operation) == (entry.pk, "update")
    changes = effect.changes
    assert changes["number"] == [None, "INV-000871"]
    assert changes["total"] == [None, money(record["total"])]  # an exact decimal string
    assert changes["date"] == [None, "2025-03-02"]
    assert changes["is_deleted"] == [None, False]  # no row before
    items = record["line_items"]
    summary = changes["lines"][1]
    assert changes["lines"][0] is None
    assert summary["count"] == len(items)
    assert summary["item_total"] == money(sum(Decimal(str(i["item_total"])) for i in items))


def test_a_later_event_records_only_what_it_changed():
    record = invoice()
    apply(record)
    later = copy.deepcopy(record)
    later["status"] = "paid"
    later["balance"] = 0
    later["last_modified_time"] = "2025-03-06T10:00:00+0300"
    entry = apply(later)
    last = effects()[-1]
    assert last["entry_id"] == entry.pk
    assert last["changes"] == {
        "status": ["partially_paid", "paid"],
        "balance": [money(record["balance"]), money(0)],
    }


def test_replaced_lines_are_summarised_before_and_after():
    record = invoice()
    apply(record)
    later = copy.deepcopy(record)
    later["line_items"] = later["line_items"][:1]
    later["last_modified_time"] = "2025-03-06T10:00:00+0300"
    apply(later)
    before, after = effects()[-1]["changes"]["lines"]
    assert (before["count"], after["count"]) == (len(record["line_items"]), 1)
    assert after["item_total"] == money(record["line_items"][0]["item_total"])


def test_a_delete_records_the_tombstone_and_a_stale_event_nothing():
    record = invoice()
    apply(record)
    apply({"invoice_id": record["invoice_id"]}, operation="delete")
    assert effects()[-1]["changes"] == {"is_deleted": [False, True]}
    older = copy.deepcopy(record)
    older["last_modified_time"] = "2024-01-01T00:00:00+0000"
    apply(older)  # stale: the row holds a newer version
    assert len(effects()) == 2


def test_an_event_that_changes_nothing_is_still_in_the_ledger_with_no_changes():
    record = invoice()
    apply(record)
    apply(copy.deepcopy(record))
    assert effects()[-1]["changes"] == {}
