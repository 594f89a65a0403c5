"""GET /dashboard/metrics: the pipeline's figures as JSON."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import AlertFactory, QueueEntryFactory, SyncLogFactory

pytestmark = pytest.mark.django_db


def test_dashboard_metrics_figures(api, live_worker):
    now = timezone.now()
    QueueEntryFactory.create_batch(2)
    QueueEntryFactory(completed=True)
    for ms in range(1, 101):  # latencies 1..100 ms, applied within the last five minutes
        SyncLogFactory(outcome="applied", latency_ms=Decimal(ms))
    SyncLogFactory.create_batch(3, outcome="applied", created_at=now - timedelta(minutes=30))
    SyncLogFactory.create_batch(2, outcome="failed", created_at=now - timedelta(minutes=30))
    SyncLogFactory.create_batch(9, outcome="applied", created_at=now - timedelta(hours=2))
    open_alert = AlertFactory(severity="critical", code="worker_down")
    AlertFactory(code="failure_rate", status="resolved")

    body = api.get("/dashboard/metrics").json()
    assert body["queue"]["by_status"] == {
        "pending": 2,
        "processing": 0,
        "completed": 1,
        "failed": 0,
        "dead_letter": 0,
    }
    assert body["throughput"]["applied_last_5m"] == 100
    assert body["throughput"]["applied_last_hour"] == 103
    assert body["throughput"]["per_minute_last_5m"] == 20.0
    assert body["failure_rate"] == pytest.approx(2 / 105, abs=1e-4)
    assert body["failures"] == {"window_seconds": 3600, "attempts": 105, "failed": 2}
    # 103 samples in the hour: the 100 above plus three at the factory's 120 ms.
    assert body["latency"]["samples"] == 103
    assert body["latency"]["p50_ms"] == 52.0
    assert body["latency"]["p99_ms"] == 120.0
    assert body["workers_live"] == 1
    assert body["open_alerts_by_severity"] == {"warning": 0, "critical": 1}
    assert [a["id"] for a in body["open_alerts"]] == [open_alert.pk]


def test_dashboard_metrics_with_nothing_yet(api):
    body = api.get("/dashboard/metrics").json()
    assert body["failure_rate"] == 0
    assert body["latency"]["p50_ms"] is None and body["latency"]["p99_ms"] is None
    assert body["open_alerts"] == []


def test_the_openapi_document_describes_the_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    response = paths["/dashboard/metrics"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"]["$ref"].endswith("DashboardMetrics")
    assert "/dashboard/metrics/" not in paths
    assert "/metrics" not in paths  # Prometheus text, for scrapers: not part of the API document
