"""A held record's events wait in the queue; every other record keeps flowing; a release lets
them apply in their order of arrival."""

from __future__ import annotations

import pytest
from django.utils import timezone

from entities import models as erp
from syncqueue.claims import claim_batch, has_claimable_entries
from syncqueue.holds import hold_record, is_held, release_record
from syncqueue.models import NewEvent, QueueEntry, RecordHold
from syncqueue.processing import process_claim
from syncqueue.stats import queue_figures

pytestmark = pytest.mark.django_db


def _product(item_id: str, name: str, modified: str) -> NewEvent:
    record = {"item_id": item_id, "name": name, "last_modified_time": modified}
    return NewEvent("products", item_id, "update", record)


def _drain(worker: str = "w1") -> list[str]:
    done = []
    while claims := claim_batch(worker):
        done += [process_claim(claim, worker) for claim in claims]
    return done


def test_a_held_record_waits_while_the_others_apply():
    assert hold_record("products", "P1", actor="alice", reason="checking prices")
    QueueEntry.objects.enqueue(
        [
            _product("P1", "first", "2025-03-01T10:00:00+0000"),
            _product("P2", "other", "2025-03-01T10:00:00+0000"),
            _product("P1", "second", "2025-03-01T11:00:00+0000"),
        ]
    )
    assert _drain() == ["applied"]
    assert erp.Product.objects.get().zoho_id == "P2"
    assert not has_claimable_entries()
    figures = queue_figures()
    assert (figures.by_status["pending"], figures.claimable, figures.held_records) == (2, 0, 1)

    assert release_record("products", "P1")
    assert not is_held("products", "P1")
    assert _drain() == ["applied", "applied"]
    assert erp.Product.objects.get(zoho_id="P1").name == "second"


def test_holding_twice_keeps_the_first_hold_and_releasing_an_unheld_record_says_so():
    assert hold_record("products", "P1", actor="alice")
    assert not hold_record("products", "P1", actor="bob")
    assert is_held("products", "P1")
    assert release_record("products", "P1")
    assert not release_record("products", "P1")


def test_an_event_already_claimed_finishes_when_its_record_is_held():
    QueueEntry.objects.enqueue([_product("P1", "in flight", "2025-03-01T10:00:00+0000")])
    (claim,) = claim_batch("w1")
    hold_record("products", "P1", actor="alice")
    assert process_claim(claim, "w1") == "applied"


def test_operators_release_a_held_record_in_the_console(admin_client):
    hold_record("products", "P1", actor="alice")
    QueueEntry.objects.enqueue([_product("P1", "waiting", "2025-03-01T10:00:00+0000")])
    page = admin_client.get("/admin/syncqueue/recordhold/").content.decode()
    assert "P1" in page and "alice" in page
    assert '<td class="field-waiting">1</td>' in page
    hold = RecordHold.objects.get()
    response = admin_client.post(
        "/admin/syncqueue/recordhold/",
        {"action": "release", "_selected_action": [hold.pk]},
        follow=True,
    )
    assert "1 record released." in response.content.decode()
    assert not is_held("products", "P1")
    assert _drain() == ["applied"]


def test_a_record_dead_lettered_three_times_in_a_day_is_held_and_an_alert_names_it(settings):
    from alerts.conditions import check_records_held

    settings.RETRY_POLICY = settings.RETRY_POLICY.__class__(max_attempts=1, delays=(60,))
    broken = {"item_id": "P9", "rate": "not a number"}
    QueueEntry.objects.enqueue([NewEvent("products", "P9", "update", broken)] * 3)
    QueueEntry.objects.enqueue([_product("P9", "fixed", "2025-03-01T10:00:00+0000")])
    QueueEntry.objects.enqueue([_product("P2", "other", "2025-03-01T10:00:00+0000")])
    assert sorted(_drain()) == ["applied", "dead_letter", "dead_letter", "dead_letter"]
    hold = RecordHold.objects.get()
    assert (hold.entity, hold.record_id, hold.held_by) == ("products", "P9", "automatic")
    assert "3 events dead-lettered" in hold.reason
    assert not erp.Product.objects.filter(zoho_id="P9").exists()  # the fixed one waits
    reading = check_records_held(timezone.now())
    assert reading.severity == "warning" and "products P9" in reading.message
