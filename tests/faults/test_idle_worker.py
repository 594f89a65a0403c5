"""A worker with nothing claimable stays idle, whatever waits behind a failed event."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.faults.events import invoice, invoice_total, send
from tests.live import live_api, live_worker
from tests.processes import tree_cpu_seconds, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


@pytest.mark.parametrize("broker", ["database", "redis"])
def test_newer_event_behind_a_failed_one_does_not_make_the_worker_spin(
    tmp_path, faultdb, redis_server, broker
):
    # The failed invoice waits 8 s for its retry; its newer version is "due" but may not
    # run before it (one record's events apply in order), so nothing is claimable.
    env = {"DATABASE_URL": faultdb.url, "RETRY_MAX_ATTEMPTS": "2", "RETRY_DELAYS": "8"}
    if broker == "redis":
        env["REDIS_URL"] = redis_server.url
    with live_api(tmp_path, **env) as base, live_worker(tmp_path, **env) as worker:
        with httpx.Client(base_url=base, timeout=10) as client:
            first = send(client, "/webhooks/zoho/invoices/", invoice(1, 1, total="abc"))
            assert first.status_code == 202
            wait_until(lambda: faultdb.by_status() == {"failed": 1}, 20, faultdb.by_status)
            assert send(client, "/webhooks/zoho/invoices/", invoice(1, 2)).status_code == 202
        time.sleep(1)  # the newer event's own drain task runs (and finds nothing)
        window_start, cpu_before = datetime.now(UTC), tree_cpu_seconds(worker.pid)
        time.sleep(4)
        cpu = tree_cpu_seconds(worker.pid) - cpu_before
        drains = faultdb.value(
            "SELECT count(*) FROM django_q_task WHERE started >= %s", (window_start,)
        )
        assert drains == 0, f"{drains} drain tasks ran with nothing claimable ({cpu:.1f} s CPU)"
        wait_until(lambda: faultdb.finished() == 2, 30, faultdb.by_status)
    faultdb.assert_accounted(2, dead_lettered=1, failed_attempts=1)
    total = faultdb.value("SELECT total FROM invoices WHERE zoho_id = %s", ("7700000001",))
    assert total == invoice_total(2)
