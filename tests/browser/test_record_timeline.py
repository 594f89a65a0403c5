"""A record's story in a real browser: from the dead letters list to the record's timeline,
a replay's dry run, the replay, and the timeline again with what each event changed.

Leaves a screenshot of the timeline in ``tests/artifacts/record-timeline.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncqueue.models import DeadLetter
from syncqueue.processing import drain
from tests.browser.conftest import log_in
from tests.factories import DeadLetterFactory, QueueEntryFactory, UserFactory, zoho_record
from tests.live import live_api

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "timeline-pass-2025"
INVOICE = "4600000012345"


def test_operator_reads_a_records_story_previews_a_replay_and_sees_its_effect(
    tmp_path, browser_page
):
    UserFactory(username="ops", superuser=True, password=PASSWORD)
    first = zoho_record("invoices", INVOICE, invoice_number="INV-00042", status="sent")
    QueueEntryFactory(entity="invoices", record=first)
    assert drain(budget_seconds=30) == 1
    later = {**first, "status": "paid", "balance": 0, "last_modified_time": "2030-01-01T00:00:00Z"}
    dead = DeadLetterFactory(
        entity="invoices", record=later, error="OperationalError: the ERP database was down"
    )

    with live_api(tmp_path, ALLOWED_HOSTS="127.0.0.1,localhost") as base:
        page = browser_page
        log_in(page, base, "ops", PASSWORD, then="/admin/syncqueue/deadletter/")

        # The dead letters list links the record id to its timeline.
        page.locator("#result_list a", has_text=INVOICE).click()
        page.wait_for_selector("#tds-timeline")
        assert page.locator("#tds-erp-row").inner_text().count("INV-00042") == 1
        events = page.locator("tr.tds-event")
        assert events.count() == 2
        assert "number: ∅ → INV-00042" in events.nth(0).inner_text()
        assert "ERP database was down" in events.nth(1).inner_text()

        # The dry run shows the change and changes nothing.
        events.nth(1).locator("a.tds-replay-received").click()
        page.wait_for_selector("#tds-preview-changes")
        status_row = page.locator("#tds-preview-changes tr[data-column=status]").inner_text()
        assert "sent" in status_row and "paid" in status_row
        assert DeadLetter.objects.get(pk=dead.pk).replay_count == 0

        page.click("#tds-confirm-replay")
        page.wait_for_selector("#tds-timeline")
        assert "Replayed dead letter" in page.locator(".messagelist").inner_text()
        assert drain(budget_seconds=30) == 1

        page.reload()
        replayed = page.locator("tr.tds-event").nth(1).inner_text()
        assert "status: sent → paid" in replayed and "resolved" in replayed
        assert "paid" in page.locator("#tds-erp-row").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "record-timeline.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
