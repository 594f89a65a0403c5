"""GET /metrics: valid exposition (parser and promtool) whose figures match the database."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from inbox.models import InboxEvent
from syncqueue.models import QueueEntry, SyncLog
from tests.factories import (
    AlertFactory,
    DeadLetterFactory,
    InboxEventFactory,
    QueueEntryFactory,
    SyncLogFactory,
    WorkerHeartbeatFactory,
)

pytestmark = pytest.mark.django_db

PROMTOOL = shutil.which("promtool", path=f"{os.environ.get('PATH', '')}:/usr/bin")


@pytest.fixture
def small_run(db):
    now = timezone.now()
    QueueEntryFactory.create_batch(3, entity="invoices")
    QueueEntryFactory(entity="bills", created_at=now - timedelta(seconds=90))
    QueueEntryFactory.create_batch(2, entity="invoices", completed=True)
    QueueEntryFactory(entity="products", processing=True, locked_until=now - timedelta(seconds=5))
    QueueEntryFactory(entity="products", failed=True)
    DeadLetterFactory.create_batch(2)
    DeadLetterFactory(resolved=True)
    for latency in ("40", "80", "300", "2000", "45000"):
        SyncLogFactory(entity="invoices", outcome="applied", latency_ms=Decimal(latency))
    SyncLogFactory(entity="invoices", outcome="stale", latency_ms=Decimal("700"))
    SyncLogFactory.create_batch(2, entity="bills", outcome="failed")
    SyncLogFactory(entity="bills", outcome="dead_letter")
    SyncLogFactory(entity="bills", outcome="applied", latency_ms=Decimal("150"))
    AlertFactory(code="queue_backlog", severity="warning")
    AlertFactory(code="dead_letters", severity="critical", status="acknowledged")
    AlertFactory(code="failure_rate", severity="critical", status="resolved")
    InboxEventFactory.create_batch(4)
    InboxEventFactory(rejected=True)
    WorkerHeartbeatFactory(last_beat_at=now - timedelta(seconds=12))


def scrape(client, token: str) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_gauges_and_counters_match_the_database(client, staff_token, small_run):
    text = scrape(client, staff_token)
    got = samples(text)

    for status in ("pending", "processing", "completed", "failed", "dead_letter"):
        expected = QueueEntry.objects.filter(status=status).count()
        assert got[("tds_queue_depth", (("status", status),))] == expected
    assert got[("tds_queue_depth", (("status", "pending"),))] == 4
    assert got[("tds_queue_entries", (("entity", "invoices"), ("status", "pending")))] == 3
    assert got[("tds_queue_entries", (("entity", "bills"), ("status", "pending")))] == 1
    assert got[("tds_queue_entries", (("entity", "products"), ("status", "failed")))] == 1
    assert 90 <= got[("tds_queue_oldest_pending_age_seconds", ())] < 3600
    assert got[("tds_queue_stuck_entries", ())] == 1
    assert got[("tds_dead_letters_unresolved", ())] == 2

    def events(entity, outcome):
        return got[("tds_sync_events_total", (("entity", entity), ("outcome", outcome)))]

    assert events("invoices", "applied") == 5
    assert events("invoices", "skipped") == 1
    assert events("bills", "failed") == 2
    assert events("bills", "dead_lettered") == 1
    assert events("bills", "applied") == 1
    # 3 failed or dead-lettered of 10 attempts in the last hour.
    assert got[("tds_sync_failure_ratio_1h", ())] == pytest.approx(0.3)

    assert got[("tds_alerts_open", (("severity", "warning"),))] == 1
    assert got[("tds_alerts_open", (("severity", "critical"),))] == 1
    key = (
        "tds_alert_active",
        (("code", "dead_letters"), ("severity", "critical"), ("status", "acknowledged")),
    )
    assert got[key] == 1
    assert got[("tds_workers_live", ())] == 1
    assert 12 <= got[("tds_worker_last_beat_age_seconds", ())] < 600
    assert got[("tds_webhook_requests_total", (("validity", "accepted"),))] == 4
    assert got[("tds_webhook_requests_total", (("validity", "rejected"),))] == 1


def test_latency_histogram_buckets_are_cumulative_counts(client, staff_token, small_run):
    got = samples(scrape(client, staff_token))

    def bucket(entity, le):
        return got[("tds_apply_latency_seconds_bucket", (("entity", entity), ("le", le)))]

    # invoices: 0.04 0.08 0.3 0.7 2.0 45.0 seconds
    assert bucket("invoices", "0.05") == 1
    assert bucket("invoices", "0.1") == 2
    assert bucket("invoices", "0.5") == 3
    assert bucket("invoices", "1.0") == 4
    assert bucket("invoices", "2.5") == 5
    assert bucket("invoices", "30.0") == 5
    assert bucket("invoices", "60.0") == 6
    assert bucket("invoices", "+Inf") == 6
    assert got[("tds_apply_latency_seconds_count", (("entity", "invoices"),))] == 6
    assert got[("tds_apply_latency_seconds_sum", (("entity", "invoices"),))] == pytest.approx(48.12)
    assert bucket("bills", "0.25") == 1  # failed attempts carry no latency


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_exposition(client, staff_token, small_run, tmp_path):
    text = scrape(client, staff_token)
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", (
        result.stdout + result.stderr
    )


def test_empty_database_is_still_valid(client, staff_token):
    got = samples(scrape(client, staff_token))
    assert got[("tds_queue_depth", (("status", "pending"),))] == 0
    assert got[("tds_alerts_open", (("severity", "critical"),))] == 0


def test_openmetrics_when_asked(client, staff_token):
    response = client.get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Token {staff_token}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


def test_database_down_gives_503(client, staff_token, monkeypatch):
    from django.db import OperationalError

    def down(now=None):
        raise OperationalError("connection refused")

    monkeypatch.setattr("metrics.prometheus.stats.queue_figures", down)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database" in response.json()["error"]


# --- counters only ever rise -----------------------------------------------------------------


def running_totals(text: str) -> dict[str, dict[tuple, float]]:
    """Every counter and histogram family exposed, by family, with its samples."""
    return {
        family.name: {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        for family in text_string_to_metric_families(text)
        if family.type in ("counter", "histogram")
    }


def counter_samples(text: str) -> dict[tuple, float]:
    return {key: value for series in running_totals(text).values() for key, value in series.items()}


def purge_everything_finished() -> str:
    out = StringIO()
    call_command("tds_purge", "--days", "0", "--batch-size", "2", stdout=out)
    return out.getvalue()


def test_every_counter_keeps_its_value_across_a_purge(client, staff_token, small_run):
    """Iterates what /metrics exposes, so a counter added later cannot escape."""
    before = running_totals(scrape(client, staff_token))
    untested = sorted(name for name, series in before.items() if not any(series.values()))
    assert untested == [], "give these counters rows in small_run, so purging them is tested"
    # The factory's entry ids may be those of unfinished entries, whose history is kept.
    SyncLog.objects.update(entry_id=0)
    logs, events = SyncLog.objects.count(), InboxEvent.objects.count()

    out = purge_everything_finished()

    assert f"{logs} sync logs" in out and f"{events} inbox events" in out
    assert SyncLog.objects.count() == 0 and InboxEvent.objects.count() == 0
    assert running_totals(scrape(client, staff_token)) == before


# The histogram's buckets that a latency of 0.06 s falls in.
LATENCY_60MS_AND_UP = (
    *("0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0"),
    *("300.0", "900.0", "3600.0", "+Inf"),
)


def test_counters_rise_again_after_a_purge(client, staff_token, small_run):
    purge_everything_finished()
    before = counter_samples(scrape(client, staff_token))

    SyncLogFactory(entity="invoices", outcome="applied", latency_ms=Decimal("60"))
    InboxEventFactory(rejected=True)
    after = counter_samples(scrape(client, staff_token))

    risen = {key: after[key] - before[key] for key in after if after[key] != before.get(key)}
    invoices = (("entity", "invoices"),)
    assert risen == {
        ("tds_sync_events_total", (("entity", "invoices"), ("outcome", "applied"))): 1,
        ("tds_webhook_requests_total", (("validity", "rejected"),)): 1,
        **{
            ("tds_apply_latency_seconds_bucket", (*invoices, ("le", le))): 1
            for le in LATENCY_60MS_AND_UP
        },
        ("tds_apply_latency_seconds_count", invoices): 1,
        ("tds_apply_latency_seconds_sum", invoices): pytest.approx(0.06),
    }
