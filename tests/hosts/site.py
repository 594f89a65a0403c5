"""An installed TDS Core as the outside sees it: signed webhooks over TLS through nginx, and
the counts that prove each event was applied exactly once, in order per record."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inbox.signatures import sign
from tests.hosts.machines import Machine
from tests.support import FIXTURE_ENTITIES, FIXTURES

SERVER_NAME = "api.tsh.sale"  # the runbook's name: its commands run unchanged


class _TLSConnection(http.client.HTTPSConnection):
    """HTTPS to an address, verified against the site's certificate under its name, from a
    chosen source address (several senders, as Zoho has)."""

    def __init__(self, address: str, context: ssl.SSLContext, source: str | None) -> None:
        super().__init__(SERVER_NAME, 443, context=context, timeout=30)
        self._address = address
        self._source = (source, 0) if source else None

    def connect(self) -> None:
        raw = socket.create_connection((self._address, 443), self.timeout, self._source)
        self.sock = self._context.wrap_socket(raw, server_hostname=SERVER_NAME)


@dataclass
class Site:
    address: str
    secret: str
    certificate: Path

    @classmethod
    def of(cls, machine: Machine, workdir: Path) -> Site:
        """The site nginx serves on ``machine``: its certificate and its webhook secret, read
        from the files the runbook names."""
        cert = workdir / f"{machine.name}.pem"
        cert.write_text(machine.read("/etc/ssl/tds-core/selfsigned.pem"))
        secret = machine.out("sed -n 's/^ZOHO_WEBHOOK_SECRETS=//p' /opt/tds_core/.env")
        return cls(machine.address, secret.split(",")[0], cert)

    def connection(self, source: str | None = None) -> _TLSConnection:
        context = ssl.create_default_context(cafile=str(self.certificate))
        return _TLSConnection(self.address, context, source)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict | None = None,
        conn: _TLSConnection | None = None,
    ) -> tuple[int, bytes]:
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def post_webhook(
        self, entity: str, body: bytes, conn: _TLSConnection | None = None
    ) -> tuple[int, bytes]:
        headers = {
            "Content-Type": "application/json",
            "X-Zoho-Webhook-Signature": sign(self.secret, "", "application/json", body),
        }
        return self.request("POST", f"/tds/webhooks/zoho/{entity}/", body, headers, conn)


def fixture_webhooks() -> list[tuple[str, str, bytes]]:
    """(webhook entity, ERP table, body) for every fixture module."""
    tables = {
        "credit-notes": "credit_notes",
        "sales-orders": "sales_orders",
        "stock-adjustments": "stock_adjustments",
        "price-lists": "price_lists",
    }
    return [
        (path, tables.get(path, path), (FIXTURES / f"{name}.json").read_bytes())
        for name, (path, _) in FIXTURE_ENTITIES.items()
    ]


_ITEM = json.loads((FIXTURES / "item.json").read_text())["item"]
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def item_event(run: str, record: int, seq: int) -> bytes:
    """Event ``seq`` (1, 2, …) of product ``record`` in load ``run``: its rate is its seq, its
    last_modified_time grows with it, so the ERP row tells which event was applied last."""
    item = copy.deepcopy(_ITEM)
    item.update(
        item_id=record_id(run, record),
        name=f"Load {run} {record}",
        sku=f"{run}-{record}",
        rate=seq,
        last_modified_time=(_EPOCH + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
    )
    return json.dumps({"item": item}).encode()


def record_id(run: str, record: int) -> str:
    return f"{run}{record:06d}"


@dataclass
class Load:
    """Send ``per_record`` events for each of ``records`` products: a record's events in
    order from one thread (so the queue sees them in order), at ``rate`` events/s overall
    (None: as fast as it goes). A refused connection or a 5xx is counted and, with
    ``retry``, sent again a second later, as Zoho does; 429 waits its Retry-After."""

    site: Site
    run: str
    records: int
    per_record: int
    rate: float | None = None
    threads: int = 8
    retry: bool = False
    sources: list[str | None] = field(default_factory=lambda: [None])
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    # The last event of each record answered 2xx; every earlier one was answered 2xx too.
    last_seq: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def sent(self) -> int:
        """Events answered 2xx (a resent one counts once)."""
        with self._lock:
            return sum(self.last_seq.values())

    def stop(self) -> Load:
        """No new event after the ones in hand; then wait for the senders."""
        self._stop.set()
        return self.wait()

    def start(self) -> Load:
        self.started = time.monotonic()
        for number in range(self.threads):
            mine = [r for r in range(self.records) if r % self.threads == number]
            source = self.sources[number % len(self.sources)]
            thread = threading.Thread(target=self._send, args=(mine, source), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _send(self, records: list[int], source: str | None) -> None:
        conn = self.site.connection(source)
        # Each thread keeps its share of the rate; after a stall (a reload, a reboot) it goes
        # on at that pace instead of catching up in a burst, as a steady sender would.
        interval = self.threads / self.rate if self.rate else 0.0
        due = time.monotonic()
        # Seq-major: every record's first event, then every second, … spread over the run.
        for seq in range(1, self.per_record + 1):
            for record in records:
                if self._stop.is_set():
                    conn.close()
                    return
                if interval:
                    time.sleep(max(0.0, due - time.monotonic()))
                    due = max(due + interval, time.monotonic())
                conn = self._deliver(conn, record, seq, source)
        conn.close()

    def _deliver(self, conn, record: int, seq: int, source: str | None):
        body = item_event(self.run, record, seq)
        while True:
            try:
                status, answer = self.site.post_webhook("products", body, conn)
            except (OSError, http.client.HTTPException) as error:
                self._note(f"{type(error).__name__}: {error}", "error")
                conn.close()
                conn = self.site.connection(source)
                if not self.retry:
                    return conn
                time.sleep(1)
                continue
            self._note(None, status)
            if status in (200, 202):
                with self._lock:
                    self.last_seq[record] = seq
                return conn
            if status == 429:
                time.sleep(0.5)
                continue
            self._note(f"{status}: {answer[:200]!r}", "unexpected")
            if not self.retry or status < 500:
                return conn
            time.sleep(1)

    def _note(self, error: str | None, status) -> None:
        with self._lock:
            self.statuses[status] += 1
            if error:
                self.errors.append(error)

    def wait(self, timeout: float = 600) -> Load:
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "the sender did not finish"
        self.finished = time.monotonic()
        return self


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def psql(db: Machine, sql: str) -> str:
    return db.psql(sql)


def unfinished(db: Machine, run: str) -> int:
    return int(
        psql(
            db,
            f"SELECT count(*) FROM tds_sync_queue WHERE record_id LIKE '{run}%' "
            "AND status NOT IN ('completed', 'dead_letter')",
        )
    )


def assert_applied_once_in_order(db: Machine, load: Load) -> None:
    """Every event sent is in the inbox and the queue once, applied once (one 'applied'
    sync-log row, none stale or failed), in seq order per record; each product holds its
    last event's rate."""
    run, like = load.run, f"'{load.run}%'"
    total = load.sent
    queue = psql(
        db,
        f"SELECT status, outcome, count(*) FROM tds_sync_queue WHERE record_id "
        f"LIKE {like} GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert queue == f"completed|applied|{total}", queue
    logs = psql(
        db,
        f"SELECT outcome, count(*), count(DISTINCT entry_id) FROM tds_sync_logs "
        f"WHERE record_id LIKE {like} GROUP BY 1",
    )
    assert logs == f"applied|{total}|{total}", logs
    inbox = psql(db, f"SELECT count(*) FROM tds_inbox_events WHERE record_id LIKE {like}")
    assert inbox == str(total), inbox
    # Per record: the applied order (log id) follows the queue order (entry id), and the
    # queue order is the send order (rate = seq grows with the entry id).
    out_of_order = psql(
        db,
        f"""
        SELECT count(*) FROM (
          SELECT l.entry_id, lag(l.entry_id) OVER w AS before,
                 (q.payload->>'rate')::numeric AS seq,
                 lag((q.payload->>'rate')::numeric) OVER w AS seq_before
          FROM tds_sync_logs l JOIN tds_sync_queue q ON q.id = l.entry_id
          WHERE l.record_id LIKE {like}
          WINDOW w AS (PARTITION BY l.record_id ORDER BY l.id)) t
        WHERE before > entry_id OR seq_before >= seq""",
    )
    assert out_of_order == "0", out_of_order
    expected = ",".join(f"('{record_id(run, r)}', {seq})" for r, seq in load.last_seq.items())
    wrong = psql(
        db,
        f"SELECT count(*) FROM (VALUES {expected}) e(zoho_id, rate) "
        "LEFT JOIN products p USING (zoho_id) WHERE p.rate IS DISTINCT FROM e.rate",
    )
    assert wrong == "0", (run, wrong)
    products = psql(db, f"SELECT count(*) FROM products WHERE zoho_id LIKE {like}")
    assert products == str(len(load.last_seq)), (run, products)
