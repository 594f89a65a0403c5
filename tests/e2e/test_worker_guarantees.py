"""CONTRACT §4 with real processes: crashes, several clusters, poison events."""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter

import httpx
import pytest
from django.conf import settings
from django.db.models import Count

from entities import models as erp
from syncqueue.models import DeadLetter, QueueEntry, Status, SyncLog
from syncqueue.replay import replay_dead_letters
from tests.live import live_api, live_worker
from tests.processes import wait_until
from tests.support import TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def item_record(record_no: int, version: int) -> dict:
    return {
        "item_id": f"900{record_no:05d}",
        "name": f"item {record_no} v{version}",
        "rate": f"{version}.50",
        "last_modified_time": f"2025-01-01T00:{version // 60:02d}:{version % 60:02d}Z",
    }


def queue_status() -> str:
    return str(dict(QueueEntry.objects.values_list("status").annotate(n=Count("id"))))


def assert_each_entry_finished_once() -> None:
    per_entry = Counter(
        SyncLog.objects.filter(outcome__in=("applied", "stale")).values_list("entry_id", flat=True)
    )
    assert set(per_entry.values()) == {1}, "an entry was applied more than once"
    assert len(per_entry) == QueueEntry.objects.count()
    failures = SyncLog.objects.filter(outcome__in=("failed", "dead_letter"))
    assert not failures.exists(), list(failures.values_list("error", flat=True)[:3])


def test_kill_9_mid_burst_then_restart_applies_every_event_exactly_once(tmp_path):
    # Short leases so that the entries held by the killed cluster come back quickly.
    worker_env = {"STUCK_EVENT_MINUTES": "0.05", "WORKER_CONCURRENCY": "2"}
    sent: list[int] = []
    with live_api(tmp_path) as base:
        worker = live_worker(tmp_path, "first", **worker_env)
        process = worker.__enter__()

        def burst() -> None:
            with httpx.Client(base_url=base, headers={"X-TDS-Token": TOKEN}) as client:
                for n in range(500):
                    record = item_record(n % 100, n // 100)
                    response = client.post("/webhooks/zoho/products/", json=record, timeout=10)
                    assert response.status_code == 202, response.text
                    sent.append(n)

        sender = threading.Thread(target=burst)
        sender.start()
        wait_until(lambda: SyncLog.objects.count() >= 100, 60, queue_status)
        process.kill_group()  # kill -9 of the whole cluster: sentinel, workers, pusher
        process.proc.wait(10)
        worker.__exit__(None, None, None)
        sender.join(60)
        assert len(sent) == 500
        done_at_crash = QueueEntry.objects.filter(status=Status.COMPLETED).count()
        assert done_at_crash < 500, "the crash came too late to prove anything"
        with live_worker(tmp_path, "restarted", **worker_env):
            wait_until(
                lambda: QueueEntry.objects.filter(status=Status.COMPLETED).count() == 500,
                90,
                queue_status,
            )
    assert QueueEntry.objects.count() == 500
    assert_each_entry_finished_once()
    for product in erp.Product.objects.all():
        record_no = int(product.zoho_id[3:])
        assert product.name == f"item {record_no} v4"


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="several clusters on one database is a PostgreSQL guarantee (CONTRACT §4); "
    "SQLite serialises all writers and is the single-host development store",
)
def test_two_clusters_never_process_an_entry_twice_and_records_end_newest(tmp_path):
    records, versions = 200, 25
    rng = random.Random(7)
    events = [(r, v) for r in range(records) for v in range(versions)]
    rng.shuffle(events)  # versions of a record arrive out of order: stale ones are skipped
    QueueEntry.objects.bulk_create(
        QueueEntry(
            entity="products",
            record_id=item_record(r, v)["item_id"],
            operation="upsert",
            payload=item_record(r, v),
        )
        for r, v in events
    )
    env = {"WORKER_CONCURRENCY": "4"}
    with live_worker(tmp_path, "a", **env), live_worker(tmp_path, "b", **env):
        wait_until(
            lambda: QueueEntry.objects.filter(status=Status.COMPLETED).count() == len(events),
            240,
            queue_status,
            interval=0.5,
        )
    assert_each_entry_finished_once()
    assert set(QueueEntry.objects.values_list("attempts", flat=True)) == {1}
    workers = set(SyncLog.objects.values_list("worker", flat=True))
    assert len({w.split(":")[1] for w in workers}) >= 4, "expected several worker processes"
    newest = versions - 1
    names = dict(erp.Product.objects.values_list("zoho_id", "name"))
    assert len(names) == records
    for r in range(records):
        assert names[item_record(r, 0)["item_id"]] == f"item {r} v{newest}"


def test_poison_event_takes_its_attempts_then_replay_applies(tmp_path):
    env = {"RETRY_MAX_ATTEMPTS": "3", "RETRY_DELAYS": "1,2"}
    bad = item_record(1, 1) | {"rate": "abc"}
    with live_api(tmp_path) as base, live_worker(tmp_path, **env):
        response = httpx.post(
            f"{base}/webhooks/zoho/products", json=bad, headers={"X-TDS-Token": TOKEN}
        )
        assert response.status_code == 202
        wait_until(lambda: DeadLetter.objects.exists(), 30, queue_status)
        attempts = list(
            SyncLog.objects.order_by("id").values_list("attempt", "outcome", "created_at")
        )
        assert [(a, o) for a, o, _ in attempts] == [
            (1, "failed"),
            (2, "failed"),
            (3, "dead_letter"),
        ]
        gaps = [(b[2] - a[2]).total_seconds() for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= 1 and gaps[1] >= 2
        dead = DeadLetter.objects.get()
        assert "rate: 'abc' is not a number" in dead.error
        QueueEntry.objects.update(payload=item_record(1, 1))
        replay_dead_letters(DeadLetter.objects.all(), actor="test")
        wait_until(lambda: DeadLetter.objects.filter(resolved=True).exists(), 30, queue_status)
    assert erp.Product.objects.get().name == "item 1 v1"
