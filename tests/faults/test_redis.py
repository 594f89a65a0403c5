"""Redis (cache, rate counter and broker) killed and restarted under the live pipeline."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults.events import invoice, newest_invoice_totals, send
from tests.live import live_api, live_worker
from tests.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def test_ingest_goes_on_without_redis_and_dispatch_resumes_when_it_is_back(
    tmp_path, faultdb, redis_server
):
    env = {"DATABASE_URL": faultdb.url, "REDIS_URL": redis_server.url}
    records, sent = 20, 0

    def send_batch(client: httpx.Client, count: int) -> None:
        nonlocal sent
        for n in range(sent, sent + count):
            response = send(client, "/webhooks/zoho/invoices/", invoice(n % records, n // records))
            assert response.status_code == 202, (response.status_code, response.text[:300])
        sent += count

    with live_api(tmp_path, **env) as base, live_worker(tmp_path, **env) as worker:
        with httpx.Client(base_url=base, timeout=10) as client:
            send_batch(client, 40)
            wait_until(lambda: faultdb.finished() == sent, 30, faultdb.by_status)
            redis_server.kill()
            send_batch(client, 60)  # ingest needs only the database
            time.sleep(3)  # the worker meets the dead broker
            redis_server.start()
            send_batch(client, 40)
            wait_until(lambda: faultdb.finished() == sent, 60, faultdb.by_status)
        assert worker.proc.poll() is None, "the worker exited when Redis went away"
    faultdb.assert_accounted(sent)
    assert faultdb.invoice_totals() == newest_invoice_totals(sent, records)
