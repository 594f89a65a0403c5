"""The operator console in a real browser: log in, replay a dead letter, see it applied.

Headless Chromium from Debian (``/usr/bin/chromium``) driven by Playwright, against a real
gunicorn on the test database. Leaves a screenshot of the admin's front page in
``tests/artifacts/admin-dashboard.png``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from entities import models as erp
from syncqueue.models import DeadLetter, QueueEntry, Status
from syncqueue.processing import drain
from tests.browser.conftest import log_in
from tests.factories import (
    AlertFactory,
    DeadLetterFactory,
    QueueEntryFactory,
    SyncLogFactory,
    UserFactory,
)
from tests.live import live_api
from tests.support import FIXTURES

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "console-pass-2025"


def _history_for_the_chart() -> None:
    """A day of attempts, so that the front page has bars to draw."""
    now = timezone.now()
    for hours_ago in range(0, 24, 2):
        entry = QueueEntryFactory(completed=True, record_id=f"hist-{hours_ago}")
        for n in range(1 + hours_ago % 5):
            at = now - timedelta(hours=hours_ago, minutes=n)
            SyncLogFactory(entry=entry, outcome="applied", created_at=at)
        if hours_ago % 6 == 0:
            at = now - timedelta(hours=hours_ago, minutes=30)
            SyncLogFactory(entry=entry, outcome="failed", created_at=at)
    # Not due for an hour: drain() below leaves them alone.
    later = now + timedelta(hours=1)
    QueueEntryFactory(entity="invoices", record_id="waiting", next_attempt_at=later)
    QueueEntryFactory(
        failed=True,
        entity="customers",
        record_id="retrying",
        next_attempt_at=later,
        last_error="timeout",
    )


def test_operator_replays_a_dead_letter_and_sees_it_applied(tmp_path, browser_page):
    item = json.loads((FIXTURES / "item.json").read_text())["item"]
    UserFactory(username="ops", superuser=True, password=PASSWORD)
    dead = DeadLetterFactory(
        entity="products", record=item, error="OperationalError: the ERP database was down"
    )
    _history_for_the_chart()
    alert = AlertFactory(
        code="dead_letters",
        message="61 unresolved dead letters (warning above 50)",
        value=Decimal(61),
        threshold=Decimal(50),
    )

    with live_api(tmp_path, ALLOWED_HOSTS="127.0.0.1,localhost") as base:
        page = browser_page
        log_in(page, base, "ops", PASSWORD, then="/admin/")
        page.wait_for_selector("#tds-dashboard")

        page.goto(f"{base}/admin/syncqueue/deadletter/")
        row = page.locator("#result_list tbody tr", has_text=item["item_id"])
        assert row.count() == 1
        assert "ERP database was down" in row.inner_text()
        row.locator("input[name=_selected_action]").check()
        page.select_option("select[name=action]", "replay_selected")
        page.click("button[name=index]")
        assert "1 dead letter put back in the queue" in page.locator(".messagelist").inner_text()

        entry = QueueEntry.objects.get(pk=dead.entry_id)
        assert entry.status == Status.PENDING and entry.replayed
        assert DeadLetter.objects.get(pk=dead.pk).replayed_by == "ops (admin)"

        assert drain(budget_seconds=30) >= 1  # the worker's loop, against the same database

        page.goto(f"{base}/admin/syncqueue/queueentry/{dead.entry_id}/change/")
        details = page.locator("#content-main").inner_text().lower()
        assert "status:\ncompleted" in details and "outcome:\napplied" in details
        page.goto(f"{base}/admin/syncqueue/deadletter/{dead.pk}/change/")
        assert "Applied after replay." in page.locator("#content-main").inner_text()
        page.goto(f"{base}/admin/entities/product/?q={item['item_id']}")
        products = page.locator("#result_list").inner_text()
        assert item["item_id"] in products and item["sku"] in products
        assert erp.Product.objects.filter(zoho_id=item["item_id"]).exists()

        page.goto(f"{base}/admin/")
        alert_row = page.locator("#tds-open-alerts tr.tds-alert", has_text="dead_letters")
        assert alert_row.get_attribute("data-status") == "open"
        alert_row.locator("a").click()  # to the alert's page
        page.goto(f"{base}/admin/alerts/alert/")
        page.locator(f"input[name=_selected_action][value='{alert.pk}']").check()
        page.select_option("select[name=action]", "acknowledge")
        page.click("button[name=index]")
        assert "Acknowledged 1 alert" in page.locator(".messagelist").inner_text()
        alert.refresh_from_db()
        assert (alert.status, alert.acknowledged_by) == ("acknowledged", "ops")

        page.goto(f"{base}/admin/")
        page.wait_for_selector("#tds-throughput")
        assert (
            page.locator('#tds-throughput rect.applied[height="140"]').count() >= 1
        )  # the busiest hour
        assert page.locator("#tds-queue-by-status [data-status=completed] .n").inner_text() != "0"
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "admin-dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
