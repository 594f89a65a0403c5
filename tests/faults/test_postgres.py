"""PostgreSQL restarted or down under the live pipeline: nothing lost, no attempt wasted."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.faults.events import invoice, newest_invoice_totals, send
from tests.live import live_api, live_worker
from tests.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def test_restart_mid_drain_finishes_the_batch_in_flight_on_the_same_attempt(tmp_path, faultdb):
    # The default 15-minute lease: a batch stalled by the restart would wait that long.
    env = {"DATABASE_URL": faultdb.url, "WORKER_BATCH_SIZE": "10"}
    records = 300
    with live_api(tmp_path, **env) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            for n in range(records):
                assert send(client, "/webhooks/zoho/invoices/", invoice(n, 1)).status_code == 202
        with live_worker(tmp_path, **env):
            wait_until(lambda: faultdb.finished() >= 5, 60, faultdb.by_status, interval=0.02)
            faultdb.cluster.restart("fast")
            assert faultdb.finished() < records, "the restart came too late to prove anything"
            wait_until(lambda: faultdb.finished() == records, 60, faultdb.by_status)
            # The API's pooled connections died with the restart; none is lent to a webhook.
            with httpx.Client(base_url=base, timeout=10) as client:
                for n in range(records, records + 20):
                    response = send(client, "/webhooks/zoho/invoices/", invoice(n, 1))
                    assert response.status_code == 202, response.text
            wait_until(lambda: faultdb.finished() == records + 20, 60, faultdb.by_status)
    faultdb.assert_accounted(records + 20)


def test_twenty_seconds_without_postgres_answers_503_then_everything_applies(tmp_path, faultdb):
    env = {"DATABASE_URL": faultdb.url, "DATABASE_POOL_TIMEOUT": "3"}
    acknowledged: list[int] = []
    refused: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def sender(base: str) -> None:
        # Zoho's way: a refused webhook is sent again, the same body, a little later.
        with httpx.Client(base_url=base, timeout=10) as client:
            n = 0
            while not stop.is_set():
                response = send(client, "/webhooks/zoho/invoices/", invoice(n % 50, n // 50))
                if response.status_code == 202:
                    acknowledged.append(n)
                    n += 1
                else:
                    refused.append((response.status_code, response.headers.get("Retry-After")))
                    time.sleep(0.2)

    with live_api(tmp_path, **env) as base, live_worker(tmp_path, **env):
        thread = threading.Thread(target=sender, args=(base,))
        thread.start()
        wait_until(lambda: faultdb.finished() >= 20, 60, faultdb.by_status)
        faultdb.cluster.stop("fast")
        time.sleep(20)
        faultdb.cluster.start()
        wait_until(lambda: len(acknowledged) >= len(refused) + 200, 60, lambda: str(refused[-3:]))
        stop.set()
        thread.join(30)
        wait_until(lambda: faultdb.finished() == len(acknowledged), 90, faultdb.by_status)
    assert refused, "the sender never saw the database down"
    assert {status for status, _ in refused} == {503}
    assert all(retry_after == "5" for _, retry_after in refused)
    faultdb.assert_accounted(len(acknowledged))
    assert faultdb.invoice_totals() == newest_invoice_totals(len(acknowledged), records=50)
