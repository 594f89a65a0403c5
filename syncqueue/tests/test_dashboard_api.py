"""CONTRACT §6: the dashboard API, its authorisation, and what it answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from syncqueue.models import DeadLetter, QueueEntry, Status
from tests.factories import DeadLetterFactory, QueueEntryFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/dashboard/queue-stats", 200),
    ("get", "/dashboard/dead-letters", 200),
    ("post", "/dashboard/dead-letters/{dead}/replay", 202),
    ("get", "/api/schema/", 200),
    ("get", "/api/docs/", 200),
]


def _call(client: Client, method: str, url: str, token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    return getattr(client, method)(url, **headers)


def served(response, url: str, dead) -> bool:
    """Whether the response is what the endpoint serves, not merely its status."""
    content = response.content.decode()
    if url.startswith("/api/"):
        page = "swagger-ui" if url == "/api/docs/" else "/dashboard/dead-letters/{id}/replay"
        return page in content
    body = response.json()
    if url == "/dashboard/queue-stats":
        return body["by_status"]["dead_letter"] == 1
    if url == "/dashboard/dead-letters":
        return [row["id"] for row in body["results"]] == [dead.pk]
    return body == {"id": dead.pk, "replayed": True, "status": "pending", "source": "received"}


@pytest.fixture
def dead():
    return DeadLetterFactory()


@pytest.mark.parametrize(("method", "url", "ok"), ENDPOINTS)
class TestAuthorisation:
    def test_anonymous_gets_401(self, client, dead, method, url, ok):
        assert _call(client, method, url.format(dead=dead.pk)).status_code == 401
        assert DeadLetter.objects.get().replay_count == 0

    def test_unknown_token_gets_401(self, client, dead, method, url, ok):
        response = _call(client, method, url.format(dead=dead.pk), token="not-a-real-token")
        assert response.status_code == 401

    def test_non_staff_session_gets_403(self, plain_client, dead, method, url, ok):
        assert _call(plain_client, method, url.format(dead=dead.pk)).status_code == 403
        assert DeadLetter.objects.get().replay_count == 0

    def test_non_staff_token_gets_403(self, client, plain_token, dead, method, url, ok):
        response = _call(client, method, url.format(dead=dead.pk), token=plain_token)
        assert response.status_code == 403
        assert DeadLetter.objects.get().replay_count == 0

    def test_staff_session_is_let_in(self, staff_client, dead, method, url, ok):
        response = _call(staff_client, method, url.format(dead=dead.pk))
        assert response.status_code == ok
        assert served(response, url, dead)

    def test_staff_token_is_let_in(self, client, staff_token, dead, method, url, ok):
        response = _call(client, method, url.format(dead=dead.pk), token=staff_token)
        assert response.status_code == ok
        assert served(response, url, dead)


def test_session_post_needs_the_csrf_token(staff):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    dead = DeadLetterFactory()
    assert strict.post(f"/dashboard/dead-letters/{dead.pk}/replay").status_code == 403
    assert QueueEntry.objects.get().status == Status.DEAD_LETTER


def test_queue_stats_counts_every_status_and_entity(client, staff_token):
    old = timezone.now() - timedelta(minutes=10)
    QueueEntryFactory(created_at=old)
    QueueEntryFactory(record_id="2")
    QueueEntryFactory(failed=True, entity="invoices", record_id="3")
    QueueEntryFactory(completed=True, entity="invoices", record_id="4")
    DeadLetterFactory(entity="customers", record_id="5")
    body = _call(client, "get", "/dashboard/queue-stats", staff_token).json()
    assert body["by_status"] == {
        "pending": 2,
        "processing": 0,
        "completed": 1,
        "failed": 1,
        "dead_letter": 1,
    }
    assert body["by_entity"]["products"]["pending"] == 2
    assert body["by_entity"]["invoices"] == {
        "pending": 0,
        "processing": 0,
        "completed": 1,
        "failed": 1,
        "dead_letter": 0,
    }
    assert body["by_entity"]["customers"]["dead_letter"] == 1
    assert body["claimable"] == 3  # both pending records, and the failed one (due now)
    assert 600 <= body["oldest_pending_age_seconds"] < 700
    assert (body["stuck"], body["dead_letters_unresolved"], body["workers_live"]) == (0, 1, 0)


def test_queue_stats_of_an_empty_queue(client, staff_token):
    body = _call(client, "get", "/dashboard/queue-stats", staff_token).json()
    assert body == {
        "by_status": dict.fromkeys(Status.values, 0),
        "by_entity": {},
        "claimable": 0,
        "oldest_pending_age_seconds": None,
        "stuck": 0,
        "dead_letters_unresolved": 0,
        "workers_live": 0,
        "held_records": 0,
    }


def test_dead_letters_lists_unresolved_with_filters_and_pages(client, staff_token):
    long_ago = timezone.now() - timedelta(days=10)
    first = DeadLetterFactory(record_id="1", dead_lettered_at=long_ago)
    DeadLetterFactory(record_id="2")
    DeadLetterFactory(entity="invoices", record_id="3")
    DeadLetterFactory(record_id="4", resolved=True)

    page = _call(client, "get", "/dashboard/dead-letters?page_size=2", staff_token).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert [r["record_id"] for r in page["results"]] == ["3", "2"]  # newest first
    assert {"id", "entity", "record_id", "error", "attempts", "payload"} <= set(page["results"][0])

    products = _call(client, "get", "/dashboard/dead-letters?entity=products", staff_token).json()
    assert sorted(r["record_id"] for r in products["results"]) == ["1", "2"]

    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    recent = _call(client, "get", f"/dashboard/dead-letters?since={since}", staff_token).json()
    assert first.pk not in [r["id"] for r in recent["results"]] and recent["count"] == 2

    bad = _call(client, "get", "/dashboard/dead-letters?since=yesterday", staff_token)
    assert bad.status_code == 400 and "since" in bad.json()


def test_replay_puts_the_event_back_and_records_who(client, staff, staff_token):
    dead = DeadLetterFactory()
    response = _call(client, "post", f"/dashboard/dead-letters/{dead.pk}/replay", staff_token)
    assert response.status_code == 202
    assert response.json() == {
        "id": dead.pk,
        "replayed": True,
        "status": "pending",
        "source": "received",
    }
    entry = QueueEntry.objects.get()
    assert (entry.status, entry.attempts, entry.replayed) == (Status.PENDING, 0, True)
    dead.refresh_from_db()
    assert dead.replay_count == 1 and dead.replayed_by == "ops (token)"
    assert not dead.resolved  # stays open until the event applies
    log = LogEntry.objects.get()
    assert log.user == staff and log.object_id == str(dead.pk) and "Replayed" in log.change_message


def test_replay_of_unknown_or_resolved_dead_letter(client, staff_token):
    assert (
        _call(client, "post", "/dashboard/dead-letters/999/replay", staff_token).status_code == 404
    )
    done = DeadLetterFactory(resolved=True)
    response = _call(client, "post", f"/dashboard/dead-letters/{done.pk}/replay", staff_token)
    assert response.status_code == 409
    assert QueueEntry.objects.get().status == Status.DEAD_LETTER


@pytest.mark.parametrize(
    ("since", "listed"),
    [
        ("2025-03-01", ["after"]),  # a date is its midnight, in TIME_ZONE (UTC)
        ("2025-03-01T00:00:00", ["after"]),
        ("2025-02-28T23:00:00-02:00", ["after"]),  # 01:00 UTC
        ("2025-02-28T23:59:00", ["after", "before"]),
        ("", ["after", "before"]),
    ],
)
def test_dead_letters_since_takes_a_date_or_a_date_time(client, staff_token, since, listed):
    midnight = timezone.make_aware(datetime(2025, 3, 1))
    DeadLetterFactory(record_id="before", dead_lettered_at=midnight - timedelta(seconds=30))
    DeadLetterFactory(record_id="after", dead_lettered_at=midnight + timedelta(minutes=90))
    response = _call(client, "get", f"/dashboard/dead-letters?since={since}", staff_token)
    assert [row["record_id"] for row in response.json()["results"]] == listed


@pytest.mark.parametrize(
    "since", ["yesterday", "2025-02-30", "2025-03-01T25:00", "9999-12-31T23:59-01:00"]
)
def test_a_bad_since_is_a_400_naming_it(client, staff_token, since):
    response = _call(client, "get", f"/dashboard/dead-letters?since={since}", staff_token)
    assert response.status_code == 400
    assert list(response.json()) == ["since"]
