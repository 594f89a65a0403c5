"""Workers and API processes stopped, paused and killed under the live pipeline."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import psycopg
import pytest

from tests.faults.events import invoice, invoice_total, newest_invoice_totals, send
from tests.live import live_api, live_api_process, live_worker
from tests.processes import children, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def queue_invoices(base: str, events: range, records: int) -> None:
    """Send events ``events``: event n is version n // records of invoice n % records."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for n in events:
            response = send(client, "/webhooks/zoho/invoices/", invoice(n % records, n // records))
            assert response.status_code == 202, response.text


def test_sigterm_mid_batch_stops_the_worker_and_a_new_one_finishes(tmp_path, faultdb):
    env = {"DATABASE_URL": faultdb.url, "STUCK_EVENT_MINUTES": "0.1"}
    sent, records = 400, 100
    with live_api(tmp_path, **env) as base:
        queue_invoices(base, range(sent), records)
        with live_worker(tmp_path, "first", **env) as worker:
            wait_until(lambda: faultdb.finished() >= 20, 60, faultdb.by_status, interval=0.02)
            worker.proc.send_signal(signal.SIGTERM)
            worker.proc.wait(30)
        assert faultdb.finished() < sent, "the worker finished before it was stopped"
        with live_worker(tmp_path, "second", **env):
            wait_until(lambda: faultdb.finished() == sent, 90, faultdb.by_status)
    faultdb.assert_accounted(sent)
    assert faultdb.invoice_totals() == newest_invoice_totals(sent, records)


def test_a_worker_paused_past_its_lease_writes_nothing_when_it_wakes(tmp_path, faultdb):
    env = {"DATABASE_URL": faultdb.url, "STUCK_EVENT_MINUTES": "0.05"}  # a 3 s lease
    sent, records = 300, 60
    with live_api(tmp_path, **env) as base:
        queue_invoices(base, range(sent), records)
        with live_worker(tmp_path, "paused", **env) as paused:
            wait_until(lambda: faultdb.finished() >= 10, 60, faultdb.by_status, interval=0.02)
            paused.kill_group(signal.SIGSTOP)
            try:
                with live_worker(tmp_path, "other", **env):
                    wait_until(lambda: faultdb.finished() == sent, 90, faultdb.by_status)
            finally:
                paused.kill_group(signal.SIGCONT)
            time.sleep(2)  # the paused worker wakes with leases that are no longer its own
    faultdb.assert_accounted(sent)
    lost = faultdb.value("SELECT sum(lost_leases) FROM tds_sync_queue")
    assert lost >= 1, "no lease ran out while the worker was paused"
    assert faultdb.invoice_totals() == newest_invoice_totals(sent, records)


def test_sigkill_of_an_api_worker_mid_request_loses_no_acknowledged_event(tmp_path, faultdb):
    env = {"DATABASE_URL": faultdb.url, "API_WORKERS": "2"}
    records, per_sender = 40, 150
    acknowledged: set[int] = set()
    dropped: list[str] = []

    def sender(first: int) -> None:
        # A connection dropped mid-request is answered by sending the same body again.
        with httpx.Client(base_url=base, timeout=10) as client:
            for n in range(first, first + per_sender):
                while True:
                    try:
                        response = send(client, "/webhooks/zoho/invoices/", invoice(n % records, n))
                    except httpx.TransportError as error:
                        dropped.append(type(error).__name__)
                        continue
                    assert response.status_code in (200, 202), response.text
                    acknowledged.add(n)
                    break

    with live_api_process(tmp_path, **env) as (base, api), live_worker(tmp_path, **env):
        threads = [threading.Thread(target=sender, args=(i * per_sender,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for _ in range(3):  # kill a serving worker three times during the burst
            wait_until(lambda: len(children(api.pid)) == 2, 30)
            time.sleep(0.5)
            os.kill(children(api.pid)[0], signal.SIGKILL)
        for thread in threads:
            thread.join(120)
        sent = 3 * per_sender
        assert acknowledged == set(range(sent))
        wait_until(lambda: faultdb.finished() == sent, 90, faultdb.by_status)
    faultdb.assert_accounted(sent)


def test_a_row_lock_on_one_record_holds_only_that_record(tmp_path, faultdb):
    env = {"DATABASE_URL": faultdb.url}
    with live_api(tmp_path, **env) as base, live_worker(tmp_path, **env):
        queue_invoices(base, range(10), 10)  # invoices 0..9, version 0
        wait_until(lambda: faultdb.finished() == 10, 30, faultdb.by_status)
        locked_id = invoice(0, 0)["invoice"]["invoice_id"]
        with psycopg.connect(faultdb.url.replace("postgres://", "postgresql://")) as holder:
            holder.execute("SELECT 1 FROM invoices WHERE zoho_id = %s FOR UPDATE", (locked_id,))
            released_at = time.monotonic() + 10
            queue_invoices(base, range(10, 60), 10)  # versions 1..5 of each
            # Every other record reaches its newest version while record 0 is held.
            wait_until(lambda: _at_version(faultdb, 5) == 9, 10, faultdb.by_status)
            assert faultdb.invoice_totals()[locked_id] == invoice_total(0)
            time.sleep(max(0.0, released_at - time.monotonic()))
            holder.rollback()
        wait_until(lambda: faultdb.finished() == 60, 30, faultdb.by_status)
    faultdb.assert_accounted(60)
    assert faultdb.invoice_totals() == newest_invoice_totals(60, 10)


def _at_version(faultdb, version: int) -> int:
    return sum(total == invoice_total(version) for total in faultdb.invoice_totals().values())
