"""The admin's front page: the queue at a glance, the throughput chart, the open alerts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from syncqueue.models import Status
from syncqueue.tests.factories import make_entry, make_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_dashboard_shows_queue_chart_and_alerts_place(staff_client):
    make_entry(Status.PENDING, created_at=timezone.now() - timedelta(minutes=90))
    failed = make_entry(Status.FAILED, entity="invoices", record_id="2")
    make_log(failed, "failed")
    make_log(make_entry(Status.COMPLETED, record_id="3"), "applied")
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
    def alert(code: str, severity: str, status: str) -> Alert:
        return Alert.objects.create(
            code=code,
            severity=severity,
            status=status,
            message=f"{code} is bad",
            value=1,
            threshold=1,
        )

    acked = alert("queue_backlog", "critical", "acknowledged")
    warning = alert("dead_letters", "warning", "open")
    critical = alert("failure_rate", "critical", "open")
    alert("worker_down", "critical", "resolved")
    page = staff_client.get("/admin/").content.decode()
    section = page.split('id="tds-open-alerts"')[1].split("</table>")[0]
    order = [
        section.index(f"/admin/alerts/alert/{a.pk}/change/") for a in (critical, warning, acked)
    ]
    assert order == sorted(order)
    assert "worker_down" not in section
