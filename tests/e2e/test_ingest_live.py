"""Ingest against a real gunicorn: concurrent duplicates, size limit, database down."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from inbox.models import InboxEvent
from inbox.signatures import sign
from syncqueue.models import QueueEntry
from tests.live import BIN, live_api, process_env
from tests.processes import LiveProcess, free_port, wait_until
from tests.support import FIXTURES, SECRET

pytestmark = pytest.mark.e2e
INVOICE = (FIXTURES / "invoice.json").read_bytes()


def signed_headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Zoho-Webhook-Signature": sign(SECRET, "", "application/json", body),
    }


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_sending_one_event_store_it_once(tmp_path):
    responses: list[httpx.Response] = []
    start = threading.Barrier(20)
    with live_api(tmp_path, API_WORKERS="4") as base:

        def send() -> None:
            with httpx.Client() as client:
                start.wait()
                responses.append(
                    client.post(
                        f"{base}/webhooks/zoho/invoices/",
                        content=INVOICE,
                        headers=signed_headers(INVOICE),
                        timeout=20,
                    )
                )

        threads = [threading.Thread(target=send) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    codes = Counter(r.status_code for r in responses)
    assert codes == {202: 1, 200: 19}
    ids = {r.json()["event_id"] for r in responses}
    assert len(ids) == 1
    assert InboxEvent.objects.count() == 1 and QueueEntry.objects.count() == 1
    assert all(r.json()["duplicate"] for r in responses if r.status_code == 200)


@pytest.mark.django_db(transaction=True)
def test_oversized_body_is_refused_before_it_is_read(tmp_path):
    with live_api(tmp_path, WEBHOOK_MAX_BODY_BYTES="1000") as base:
        big = b'{"invoice": {"invoice_id": "1", "notes": "' + b"x" * 5000 + b'"}}'
        response = httpx.post(
            f"{base}/webhooks/zoho/invoices/", content=big, headers=signed_headers(big), timeout=10
        )
        assert response.status_code == 413
        assert "error" in response.json()
    assert InboxEvent.objects.count() == 0


def test_database_unreachable_answers_503_with_retry_after(tmp_path):
    dead = f"postgres://nobody@127.0.0.1:{free_port()}/nothing"
    port = free_port()
    process = LiveProcess(
        [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"],
        # A short pool timeout: the API gives up on the database quickly and says 503.
        process_env(API_PORT=str(port), DATABASE_URL=dead, DATABASE_POOL_TIMEOUT="2"),
        tmp_path / "gunicorn-dead-db.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{base}/health") == 503, 30, lambda: process.output()[-2000:])
        health = httpx.get(f"{base}/health", timeout=10)
        assert health.headers["Retry-After"]
        response = httpx.post(
            f"{base}/webhooks/zoho/invoices/",
            content=INVOICE,
            headers=signed_headers(INVOICE),
            timeout=20,
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "error" in response.json()
    finally:
        process.stop()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None
