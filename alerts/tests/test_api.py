"""The dashboard's alert endpoints: list open first, acknowledge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db


def test_list_shows_open_first_then_acknowledged_then_resolved(api):
    now = timezone.now()
    resolved = AlertFactory(code="failure_rate", status="resolved", last_seen_at=now)
    acked = AlertFactory(code="dead_letters", status="acknowledged", last_seen_at=now)
    warning = AlertFactory(code="queue_backlog", severity="warning", last_seen_at=now)
    critical = AlertFactory(
        code="worker_down", severity="critical", last_seen_at=now - timedelta(hours=1)
    )
    body = api.get("/dashboard/alerts").json()
    assert len(body) == 4
    ids = [row["id"] for row in body]
    assert ids == [critical.pk, warning.pk, acked.pk, resolved.pk]
    row = body[0]
    for name in ("id", "code", "severity", "status", "message", "first_seen_at", "last_seen_at"):
        assert name in row
    assert row["code"] == "worker_down" and row["value"] == 600.0


def test_list_is_a_plain_list_and_filterable(api):
    for code in ("queue_backlog", "dead_letters", "failure_rate"):
        AlertFactory(code=code)
    AlertFactory(code="queue_backlog", status="resolved")
    assert len(api.get("/dashboard/alerts").json()) == 4
    only_open = api.get("/dashboard/alerts", {"status": "open"}).json()
    assert len(only_open) == 3
    backlog = api.get("/dashboard/alerts", {"code": "queue_backlog"}).json()
    assert {r["status"] for r in backlog} == {"open", "resolved"}
    assert api.get("/dashboard/alerts/").status_code == 200  # trailing slash tolerated


def test_acknowledge_records_who_and_when(api, staff):
    alert = AlertFactory()
    before = timezone.now()
    response = api.post(f"/dashboard/alerts/{alert.pk}/acknowledge")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alert.pk
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", "operator")
    alert.refresh_from_db()
    assert alert.acknowledged_at >= before


def test_acknowledging_twice_keeps_the_first(api):
    alert = AlertFactory(
        status="acknowledged", acknowledged_by="first", acknowledged_at=timezone.now()
    )
    response = api.post(f"/dashboard/alerts/{alert.pk}/acknowledge")
    assert response.status_code == 200 and response.json()["acknowledged_by"] == "first"


def test_resolved_or_missing_alerts_cannot_be_acknowledged(api):
    resolved = AlertFactory(status="resolved")
    assert api.post(f"/dashboard/alerts/{resolved.pk}/acknowledge").status_code == 409
    assert api.post("/dashboard/alerts/999999/acknowledge").status_code == 404
    assert Alert.objects.get(pk=resolved.pk).acknowledged_by == ""


def test_the_openapi_document_describes_the_endpoints(client, staff):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert "/dashboard/alerts" in paths
    assert "post" in paths["/dashboard/alerts/{id}/acknowledge"]
    assert "/dashboard/alerts/" not in paths
    listed = paths["/dashboard/alerts"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {"status", "code"}


def test_an_unknown_filter_value_is_a_400_naming_the_parameter(api):
    AlertFactory(code="queue_backlog")
    response = api.get("/dashboard/alerts", {"status": "open,closed"})
    assert response.status_code == 400
    assert "closed" in response.json()["status"][0]
    response = api.get("/dashboard/alerts", {"code": "nope"})
    assert response.status_code == 400 and list(response.json()) == ["code"]
    assert len(api.get("/dashboard/alerts", {"status": "", "code": "queue_backlog,"}).json()) == 1
