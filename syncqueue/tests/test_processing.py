"""Claiming, ordering, retries, dead letters, leases and replay, on the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from entities import models as erp
from syncqueue import processing
from syncqueue.claims import claim_batch, has_claimable_entries
from syncqueue.models import DeadLetter, QueueEntry, Status, SyncLog
from syncqueue.processing import drain, process_claim
from syncqueue.replay import replay_dead_letters
from tds_site.config import RetryPolicy
from tests.factories import DeadLetterFactory, QueueEntryFactory
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db


def item(lmt: str, name: str = "Panel", item_id: str = "100") -> dict:
    return {"item_id": item_id, "name": name, "rate": "10", "last_modified_time": lmt}


def test_only_the_head_of_each_record_is_claimed():
    first = QueueEntryFactory(record=item("2025-01-01T00:00:00Z"))
    QueueEntryFactory(record=item("2025-01-02T00:00:00Z"))
    other = QueueEntryFactory(record=item("2025-01-01T00:00:00Z", item_id="200"))
    claims = claim_batch("w1", limit=10)
    assert [c.entry_id for c in claims] == [first.pk, other.pk]
    # While the head is in flight, nobody gets the record's next event.
    assert claim_batch("w2", limit=10) == []
    assert QueueEntry.objects.get(pk=first.pk).locked_by == "w1"


def test_a_due_event_behind_its_records_failed_one_is_not_claimable_work():
    now = timezone.now()
    QueueEntryFactory(
        record=item("2025-01-01T00:00:00Z"),
        failed=True,
        next_attempt_at=now + timedelta(seconds=60),
    )
    behind = QueueEntryFactory(record=item("2025-01-02T00:00:00Z"))  # due now, but its record waits
    assert not QueueEntry.objects.claimable(now).exists()
    assert not has_claimable_entries()  # the poll agrees with the claim: nothing to do
    assert claim_batch("w", limit=10) == []
    other = QueueEntryFactory(record=item("2025-01-01T00:00:00Z", item_id="200"))
    assert list(QueueEntry.objects.claimable(timezone.now()).values_list("id", flat=True)) == [
        other.pk
    ]
    later = now + timedelta(seconds=61)
    assert behind.pk not in QueueEntry.objects.claimable(later).values_list("id", flat=True)


def test_a_stopping_drain_hands_back_the_claims_it_has_not_started(monkeypatch):
    for record_no in range(4):
        QueueEntryFactory(record=item("2025-01-01T00:00:00Z", item_id=str(record_no)))
    QueueEntryFactory(record=item("2025-01-01T00:00:00Z", item_id="9"), failed=True)
    checks = iter([False, True])  # the stop comes while the first event is being applied
    monkeypatch.setattr(processing, "stop_requested", lambda: next(checks))
    assert drain("w", budget_seconds=10) == 1
    statuses = dict(QueueEntry.objects.values_list("record_id", "status"))
    assert statuses == {
        "0": "completed",
        "1": "pending",
        "2": "pending",
        "3": "pending",
        "9": "failed",
    }
    assert list(QueueEntry.objects.order_by("id").values_list("attempts", flat=True)) == [
        1,
        0,
        0,
        0,
        1,
    ]
    assert set(
        QueueEntry.objects.exclude(status="completed").values_list("claim_token", flat=True)
    ) == {""}
    assert len(claim_batch("w2")) == 4  # claimable again at once


def test_events_of_one_record_apply_in_arrival_order():
    for day in (1, 2, 3):
        QueueEntryFactory(record=item(f"2025-01-0{day}T00:00:00Z", name=f"v{day}"))
    assert drain("w", budget_seconds=10) == 3
    assert erp.Product.objects.get().name == "v3"
    outcomes = list(SyncLog.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["applied", "applied", "applied"]


def test_out_of_order_arrival_is_skipped_as_stale_and_logged():
    QueueEntryFactory(record=item("2025-01-03T00:00:00Z", name="newest"))
    QueueEntryFactory(record=item("2025-01-02T00:00:00Z", name="older"))
    drain("w", budget_seconds=10)
    assert erp.Product.objects.get().name == "newest"
    assert list(QueueEntry.objects.order_by("id").values_list("status", "outcome")) == [
        ("completed", "applied"),
        ("completed", "stale"),
    ]
    assert SyncLog.objects.filter(outcome="stale").count() == 1


def test_poison_event_is_retried_with_delays_then_dead_lettered(settings):
    settings.RETRY_POLICY = RetryPolicy(max_attempts=3, delays=(60, 300, 900))
    poison = QueueEntryFactory(record=item("2025-01-01T00:00:00Z") | {"rate": "abc"})
    start = timezone.now()
    expected_delays = [60, 300]
    for attempt in (1, 2):
        [claim] = claim_batch("w")
        assert claim.attempt == attempt
        assert process_claim(claim, "w") == "failed"
        entry = QueueEntry.objects.get(pk=poison.pk)
        assert entry.status == Status.FAILED
        assert "rate: 'abc' is not a number" in entry.last_error
        delay = (entry.next_attempt_at - start).total_seconds()
        assert expected_delays[attempt - 1] <= delay < expected_delays[attempt - 1] + 5
        assert claim_batch("w") == []  # not due yet
        QueueEntry.objects.filter(pk=poison.pk).update(next_attempt_at=timezone.now())
    [claim] = claim_batch("w")
    assert process_claim(claim, "w") == "dead_letter"
    entry = QueueEntry.objects.get(pk=poison.pk)
    assert (entry.status, entry.attempts) == (Status.DEAD_LETTER, 3)
    dead = DeadLetter.objects.get(entry=entry)
    assert dead.attempts == 3 and "rate" in dead.error and "FieldValueError" in dead.traceback
    assert dead.payload["rate"] == "abc"
    assert list(SyncLog.objects.order_by("id").values_list("attempt", "outcome")) == [
        (1, "failed"),
        (2, "failed"),
        (3, "dead_letter"),
    ]


def test_a_dead_letter_does_not_block_the_records_later_events(settings):
    settings.RETRY_POLICY = RetryPolicy(max_attempts=1, delays=(0,))
    QueueEntryFactory(record=item("2025-01-01T00:00:00Z") | {"rate": "abc"})
    QueueEntryFactory(record=item("2025-01-02T00:00:00Z", name="fixed"))
    drain("w", budget_seconds=10)
    assert erp.Product.objects.get().name == "fixed"


def test_replay_gives_a_fresh_cycle_and_resolves_on_success(settings):
    settings.RETRY_POLICY = RetryPolicy(max_attempts=2, delays=(0,))
    entry = QueueEntryFactory(record=item("2025-01-01T00:00:00Z") | {"rate": "abc"})
    drain("w", budget_seconds=10)
    assert QueueEntry.objects.get(pk=entry.pk).status == Status.DEAD_LETTER
    # The operator fixes nothing: the replay fails again and stays open with a new error.
    assert replay_dead_letters(DeadLetter.objects.all(), actor="alice") == 1
    drain("w", budget_seconds=10)
    dead = DeadLetter.objects.get()
    assert (dead.resolved, dead.replay_count, dead.replayed_by) == (False, 1, "alice")
    assert QueueEntry.objects.get(pk=entry.pk).attempts == 2
    # Fixed payload (as if Zoho's record were corrected), replayed: applied and resolved.
    QueueEntry.objects.filter(pk=entry.pk).update(payload=item("2025-01-01T00:00:00Z"))
    replay_dead_letters(DeadLetter.objects.all(), actor="alice")
    drain("w", budget_seconds=10)
    dead.refresh_from_db()
    assert dead.resolved and dead.resolved_at is not None
    assert QueueEntry.objects.get(pk=entry.pk).status == Status.COMPLETED
    assert erp.Product.objects.get().rate == 10
    assert replay_dead_letters(DeadLetter.objects.all()) == 0  # resolved ones stay put


def price_list(name: str) -> dict:
    """Price lists carry no last_modified_time: their changes are ordered by arrival."""
    return {"pricebook_id": "500", "name": name, "currency_code": "IQD", "status": "active"}


def test_a_replay_waits_while_a_later_event_of_its_record_is_in_flight():
    old = DeadLetterFactory(entity="price-lists", record=price_list("old"))
    QueueEntryFactory(entity="price-lists", record=price_list("new"))
    [newer] = claim_batch("w1")
    replay_dead_letters(DeadLetter.objects.all(), actor="alice")
    # The replayed entry has the lower id, but the later event holds the record.
    assert claim_batch("w2") == []
    assert not has_claimable_entries()
    assert process_claim(newer, "w1") == "applied"
    [replayed] = claim_batch("w2")
    assert replayed.entry_id == old.entry_id


def test_a_replayed_undated_event_never_overwrites_a_later_one():
    DeadLetterFactory(entity="price-lists", record=price_list("old"))
    QueueEntryFactory(entity="price-lists", record=price_list("new"))
    drain("w", budget_seconds=10)
    replay_dead_letters(DeadLetter.objects.all(), actor="alice")
    drain("w", budget_seconds=10)
    assert erp.PriceList.objects.get().name == "new"
    outcomes = list(SyncLog.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["applied", "stale"]
    assert DeadLetter.objects.get().resolved  # handled: it had nothing left to change


def test_a_replayed_undated_event_applies_when_nothing_later_applied():
    DeadLetterFactory(entity="price-lists", record=price_list("only"))
    replay_dead_letters(DeadLetter.objects.all(), actor="alice")
    drain("w", budget_seconds=10)
    assert erp.PriceList.objects.get().name == "only"


def test_a_dead_letter_that_fails_again_opens_without_its_earlier_resolution(settings):
    settings.RETRY_POLICY = RetryPolicy(max_attempts=1, delays=(0,))
    entry = QueueEntryFactory(record=item("2025-01-01T00:00:00Z") | {"rate": "abc"})
    drain("w", budget_seconds=10)
    DeadLetter.objects.update(
        resolved=True, resolved_at=timezone.now(), resolved_by="bob", resolution_note="ignore"
    )
    # Queued once more (say by hand), it fails again: its letter is open and says so.
    QueueEntry.objects.filter(pk=entry.pk).update(status=Status.PENDING, attempts=0)
    drain("w", budget_seconds=10)
    dead = DeadLetter.objects.get()
    assert (dead.resolved, dead.resolved_at, dead.resolved_by, dead.resolution_note) == (
        False,
        None,
        "",
        "",
    )
    assert "rate" in dead.error and dead.attempts == 1


def test_an_expired_lease_is_reclaimed_and_the_late_worker_cannot_complete(settings):
    QueueEntryFactory(record=item("2025-01-01T00:00:00Z"))
    [late] = claim_batch("dead-worker")
    assert claim_batch("w2") == []
    QueueEntry.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert has_claimable_entries()
    [fresh] = claim_batch("w2")
    assert fresh.entry_id == late.entry_id
    assert (fresh.attempt, fresh.lost_leases) == (1, 1)  # a lost lease is not an attempt
    assert process_claim(late, "dead-worker") == "lease_lost"
    assert not erp.Product.objects.exists()  # the late transaction rolled back
    assert process_claim(fresh, "w2") == "applied"
    assert SyncLog.objects.count() == 1


def test_every_fixture_applies_through_the_queue():
    entities = {
        "item": "products",
        "contact_customer": "customers",
        "contact_vendor": "vendors",
        "invoice": "invoices",
        "bill": "bills",
        "creditnote": "credit-notes",
        "salesorder": "sales-orders",
        "payment": "payments",
        "inventory_adjustment": "stock-adjustments",
        "pricebook": "price-lists",
    }
    for name, entity in entities.items():
        record = next(iter(json.loads((FIXTURES / f"{name}.json").read_text()).values()))
        QueueEntryFactory(entity=entity, record=record)
    assert drain("w", budget_seconds=30) == len(entities)
    assert set(QueueEntry.objects.values_list("status", flat=True)) == {"completed"}
    assert SyncLog.objects.filter(outcome="applied", latency_ms__isnull=False).count() == 10


def test_worker_timing_checks(settings):
    from syncqueue.checks import check_worker_timings

    assert check_worker_timings(None) == []
    settings.STUCK_EVENT_SECONDS = 6
    assert [p.id for p in check_worker_timings(None)] == ["syncqueue.W001"]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "retry": settings.Q_CLUSTER["timeout"]}
    assert "syncqueue.E001" in [p.id for p in check_worker_timings(None)]


def test_an_entry_whose_workers_keep_dying_is_dead_lettered(settings):
    settings.RETRY_POLICY = RetryPolicy(max_attempts=2, delays=(0,))
    entry = QueueEntryFactory(record=item("2025-01-01T00:00:00Z"))
    for _ in range(2):  # claimed, then the worker dies: the lease runs out
        claim_batch("doomed")
        QueueEntry.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    [claim] = claim_batch("w")
    assert (claim.attempt, claim.lost_leases) == (1, 2)  # the event itself never failed
    assert process_claim(claim, "w") == "dead_letter"
    dead = DeadLetter.objects.get(entry_id=entry.pk)
    assert "worker died or timed out 2 times" in dead.error
    assert not erp.Product.objects.exists()


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="session settings of PostgreSQL's worker"
)
def test_draining_settings_hold_while_draining_and_are_put_back(monkeypatch):
    QueueEntryFactory(record=item("2025-01-01T00:00:00Z"))
    seen = []
    real = processing.process_claim

    def spy(claim, worker):
        seen.append((_setting("synchronous_commit"), _setting("enable_seqscan")))
        return real(claim, worker)

    monkeypatch.setattr(processing, "process_claim", spy)
    assert drain("w") == 1
    assert seen == [("off", "off")]
    assert (_setting("synchronous_commit"), _setting("enable_seqscan")) == ("on", "on")
