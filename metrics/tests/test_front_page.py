"""The admin's front page: the queue at a glance, the throughput chart, the open alerts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import AlertFactory, QueueEntryFactory, SyncLogFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_dashboard_shows_queue_chart_and_alerts_place(staff_client):
    QueueEntryFactory(created_at=timezone.now() - timedelta(minutes=90))
    failed = QueueEntryFactory(failed=True, entity="invoices", record_id="2")
    SyncLogFactory(entry=failed, outcome="failed")
    SyncLogFactory(entry=QueueEntryFactory(completed=True, record_id="3"), outcome="applied")
    page = staff_client.get("/admin/").content.decode()
    assert 'id="tds-dashboard"' in page
    assert '<svg id="tds-throughput"' in page
    assert page.count('<rect class="applied"') == 25  # 24 hours and the legend
    assert "1 applied" in page and "UTC: 1 failed" in page
    assert "1h 30m" in page  # oldest pending
    assert 'id="tds-open-alerts"' in page and "No open alerts." in page
    assert "http://" not in page.split('id="tds-dashboard"')[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", ""
    )
    assert json.dumps("invoices")[1:-1] in page


def test_dashboard_lists_unresolved_alerts_open_first(staff_client):
    acked = AlertFactory(code="queue_backlog", severity="critical", status="acknowledged")
    warning = AlertFactory(code="dead_letters", severity="warning")
    critical = AlertFactory(code="failure_rate", severity="critical")
    AlertFactory(code="worker_down", severity="critical", status="resolved")
    page = staff_client.get("/admin/").content.decode()
    section = page.split('id="tds-open-alerts"')[1].split("</table>")[0]
    order = [
        section.index(f"/admin/alerts/alert/{a.pk}/change/") for a in (critical, warning, acked)
    ]
    assert order == sorted(order)
    assert "worker_down" not in section
