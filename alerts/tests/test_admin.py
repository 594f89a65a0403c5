"""The alerts in the admin console: list, filters, acknowledge and resolve actions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert
from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db

CODES = ["queue_backlog", "dead_letters", "failure_rate", "stuck_events", "oldest_pending"]


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/alerts/alert/").status_code == 200
    return len(queries)


def test_changelist_cost_does_not_grow_with_rows(admin_client):
    AlertFactory(code="queue_backlog")
    few = changelist_queries(admin_client)
    for code in CODES[1:]:
        AlertFactory(code=code, notify_pending=True, pending_channels="slack")
    AlertFactory.create_batch(20, status="resolved")
    assert changelist_queries(admin_client) == few


def test_filters_are_offered(admin_client):
    AlertFactory()
    page = admin_client.get("/admin/alerts/alert/?status__exact=open&severity__exact=warning")
    assert page.status_code == 200
    text = page.content.decode()
    assert "By status" in text and "By severity" in text and "By code" in text


def test_acknowledge_action_records_the_user(admin_client, admin_user):
    open_one = AlertFactory(code="queue_backlog")
    resolved = AlertFactory(code="dead_letters", status="resolved")
    response = admin_client.post(
        "/admin/alerts/alert/",
        {"action": "acknowledge", "_selected_action": [open_one.pk, resolved.pk]},
        follow=True,
    )
    assert "Acknowledged 1 alert(s)." in response.content.decode()
    open_one.refresh_from_db()
    assert open_one.status == "acknowledged"
    assert open_one.acknowledged_by == admin_user.get_username()
    assert open_one.acknowledged_at is not None
    assert Alert.objects.get(pk=resolved.pk).status == "resolved"


def test_resolve_action_records_the_user_and_queues_the_notice(admin_client, admin_user, settings):
    settings.ALERT_SLACK_ENABLED = True
    alert = AlertFactory(status="acknowledged")
    admin_client.post("/admin/alerts/alert/", {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by) == ("resolved", admin_user.get_username())
    assert alert.resolved_at is not None
    assert alert.notify_pending and alert.notify_event == "resolved"
    assert alert.pending_channels == "slack"


def test_alerts_cannot_be_added_or_edited_by_hand(admin_client):
    alert = AlertFactory()
    assert admin_client.get("/admin/alerts/alert/add/").status_code == 403
    admin_client.post(f"/admin/alerts/alert/{alert.pk}/change/", {"message": "edited"})
    assert Alert.objects.get(pk=alert.pk).message != "edited"
