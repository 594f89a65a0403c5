"""Every surface that shows the pipeline's figures shows the same ones for the same database:
the admin's front page, GET /dashboard/queue-stats, GET /dashboard/metrics, /metrics,
``tds_stats --json`` and the monitor's readings (all from ``syncqueue.stats``)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts import conditions
from syncqueue.models import Outcome
from tests.factories import (
    DeadLetterFactory,
    QueueEntryFactory,
    SyncLogFactory,
    TokenFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_queue():
    """A queue in every state, whose oldest waiting entry is a replay: waiting 20 minutes
    since its replay, though it arrived three days ago (the figure the surfaces once
    disagreed on)."""
    now = timezone.now()
    QueueEntryFactory(
        record_id="1",
        replayed=True,
        created_at=now - timedelta(days=3),
        next_attempt_at=now - timedelta(minutes=20),
    )
    QueueEntryFactory(record_id="2", created_at=now - timedelta(minutes=5))
    QueueEntryFactory(record_id="2", created_at=now - timedelta(minutes=4))  # waits behind "2"
    QueueEntryFactory(record_id="3", processing=True, locked_until=now - timedelta(minutes=1))
    QueueEntryFactory(record_id="4", failed=True, next_attempt_at=now + timedelta(minutes=5))
    QueueEntryFactory(record_id="5", completed=True)
    dead = DeadLetterFactory(record_id="6")
    for attempt, outcome in enumerate(
        [Outcome.APPLIED, Outcome.APPLIED, Outcome.STALE, Outcome.FAILED, Outcome.DEAD_LETTER]
    ):
        SyncLogFactory(
            entry=dead.entry,
            attempt=attempt + 1,
            outcome=outcome,
            created_at=now - timedelta(minutes=10),
        )


@pytest.fixture
def staff_token():
    user = UserFactory(username="ops", superuser=True)
    return user, TokenFactory(user=user).key


def _prometheus(client, token: str) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {token}").content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _admin_card(page: str, card_id: str) -> str:
    match = re.search(rf'id="{card_id}"[^>]*>\s*<span class="n">([^<]*)</span>', page)
    assert match, card_id
    return match.group(1)


def test_every_surface_reports_the_same_figures(client, busy_queue, staff_token):
    user, token = staff_token
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    api = client.get("/dashboard/queue-stats", **auth).json()
    dashboard = client.get("/dashboard/metrics", **auth).json()
    prometheus = _prometheus(client, token)
    out = StringIO()
    call_command("tds_stats", "--json", stdout=out)
    command = json.loads(out.getvalue())
    client.force_login(user)
    page = client.get("/admin/").content.decode()
    now = timezone.now()

    by_status = {"pending": 3, "processing": 1, "completed": 1, "failed": 1, "dead_letter": 1}
    assert api["by_status"] == command["by_status"] == dashboard["queue"]["by_status"]
    assert api["by_status"] == by_status
    for status, count in by_status.items():
        assert prometheus[("tds_queue_depth", (("status", status),))] == count
        assert re.search(rf'data-status="{status}"[^>]*>\s*<span class="n">{count}</span>', page), (
            status
        )
    assert api["by_entity"] == command["by_entity"] == dashboard["queue"]["by_entity"]
    assert Decimal(conditions.check_queue_backlog(now).value) == by_status["pending"]

    # The replay and the first pending entry of record "2" are claimable, as is the
    # processing entry whose lease ran out; the second of "2" waits, the failed one is not due.
    assert api["claimable"] == command["claimable"] == dashboard["queue"]["claimable"] == 3
    assert _admin_card(page, "tds-claimable") == "3"

    # Oldest pending: since the replay, 20 minutes (not the arrival three days ago).
    ages = [
        api["oldest_pending_age_seconds"],
        command["oldest_pending_age_seconds"],
        dashboard["queue"]["oldest_pending_age_seconds"],
        prometheus[("tds_queue_oldest_pending_age_seconds", ())],
        float(conditions.check_oldest_pending(now).value),
        float(re.search(r'id="tds-oldest-pending" data-seconds="([\d.]+)"', page).group(1)),
    ]
    assert all(1200 <= age < 1230 for age in ages), ages
    assert "20m" in _admin_card(page, "tds-oldest-pending")

    stuck = [
        api["stuck"],
        command["stuck"],
        dashboard["queue"]["stuck"],
        prometheus[("tds_queue_stuck_entries", ())],
        conditions.check_stuck_events(now).value,
        int(_admin_card(page, "tds-stuck")),
    ]
    assert stuck == [1] * len(stuck)

    dead_letters = [
        api["dead_letters_unresolved"],
        command["dead_letters_unresolved"],
        dashboard["queue"]["dead_letters_unresolved"],
        prometheus[("tds_dead_letters_unresolved", ())],
        conditions.check_dead_letters(now).value,
        int(_admin_card(page, "tds-open-dead-letters")),
    ]
    assert dead_letters == [1] * len(dead_letters)

    # 2 of 5 attempts in the last hour failed (a failure and a dead letter).
    assert Decimal(str(dashboard["failure_rate"])) == Decimal("0.4")
    assert prometheus[("tds_sync_failure_ratio_1h", ())] == 0.4
    assert conditions.check_failure_rate(now).value == Decimal("0.4")
    assert "3 applied, 2 failed" in page  # the chart: applied or stale, failed or dead

    workers = [api["workers_live"], dashboard["workers_live"], prometheus[("tds_workers_live", ())]]
    assert workers == [0, 0, 0]
    assert _admin_card(page, "tds-workers") == "0"
    assert api["held_records"] == command["held_records"] == dashboard["queue"]["held_records"]
    assert int(_admin_card(page, "tds-held")) == api["held_records"] == 0
