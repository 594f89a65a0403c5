"""Completing a claimed entry: status, log row and ERP change commit together, or not at all."""

from __future__ import annotations

import pytest

from entities import models as erp
from syncqueue.claims import claim_batch
from syncqueue.models import QueueEntry, SyncLog
from syncqueue.processing import process_claim
from tests.factories import QueueEntryFactory

pytestmark = pytest.mark.django_db


def test_an_applied_entry_is_completed_with_its_log_row():
    entry = QueueEntryFactory(record_id="P1")
    (claim,) = claim_batch("w1")
    assert process_claim(claim, "w1") == "applied"
    entry.refresh_from_db()
    assert (entry.status, entry.outcome, entry.locked_by) == ("completed", "applied", "")
    assert entry.completed_at is not None and entry.locked_until is None
    log = SyncLog.objects.get(entry_id=entry.id)
    assert (log.outcome, log.attempt, log.worker, log.error) == ("applied", 1, "w1", "")
    assert log.latency_ms is not None and log.latency_ms >= 0 and log.duration_ms >= 0
    assert erp.Product.objects.filter(zoho_id="P1").exists()


def test_a_lost_lease_rolls_the_whole_event_back():
    entry = QueueEntryFactory(record_id="P2")
    (claim,) = claim_batch("w1")
    QueueEntry.objects.filter(id=entry.id).update(claim_token="someone-else")
    assert process_claim(claim, "w1") == "lease_lost"
    assert not SyncLog.objects.exists()
    assert not erp.Product.objects.filter(zoho_id="P2").exists()
    entry.refresh_from_db()
    assert entry.status == "processing"
