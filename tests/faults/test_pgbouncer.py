"""The live pipeline through a real PgBouncer in transaction pooling (DATABASE_PGBOUNCER=true).

In transaction pooling each transaction may run on any server connection, and whatever a
client leaves in a server connection's session (a ``SET``) is inherited by the next client
that gets it: the worker's draining settings must never outlive the worker's transactions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import psycopg
import pytest

from tests.faults.conftest import FaultDatabase
from tests.faults.events import send as send_signed
from tests.instances import PrivatePgBouncer, PrivatePostgres
from tests.live import live_api, live_worker
from tests.processes import wait_until

pytestmark = pytest.mark.faults


@pytest.fixture
def pgbouncer(cluster: PrivatePostgres) -> Iterator[Callable[[int], PrivatePgBouncer]]:
    """Starts a PgBouncer in front of the cluster, with the pool size given."""
    started: list[PrivatePgBouncer] = []

    def start(pool_size: int) -> PrivatePgBouncer:
        bouncer = PrivatePgBouncer(cluster, pool_size)
        started.append(bouncer)
        bouncer.start()
        return bouncer

    yield start
    for bouncer in started:
        bouncer.destroy()


def through(bouncer: PrivatePgBouncer, db: FaultDatabase, **env: str) -> dict[str, str]:
    """The environment of a process that reaches ``db`` through ``bouncer``."""
    return {"DATABASE_URL": bouncer.url(db.name), "DATABASE_PGBOUNCER": "true", **env}


def connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgres://", "postgresql://"), **kwargs)


def product(record_no: int, version: int) -> tuple[str, dict]:
    return "products", {
        "item": {
            "item_id": f"7100{record_no:04d}",
            "name": f"product {record_no} v{version}",
            "rate": f"{version}.25",
            "last_modified_time": f"2025-06-01T10:00:{version:02d}+0000",
        }
    }


def invoice(record_no: int, version: int) -> tuple[str, dict]:
    total = f"{100 * record_no + version}.00"
    return "invoices", {
        "invoice": {
            "invoice_id": f"7200{record_no:04d}",
            "invoice_number": f"INV-{record_no:04d}",
            "customer_id": "7300",
            "date": "2025-06-01",
            "status": "sent",
            "currency_code": "IQD",
            "total": total,
            "balance": total,
            "line_items": [
                {
                    "line_item_id": f"7400{record_no:04d}",
                    "item_id": f"7100{record_no:04d}",  # linked to the product when it lands
                    "name": f"product {record_no}",
                    "quantity": version,
                    "rate": "1.00",
                    "item_total": f"{version}.00",
                }
            ],
            "last_modified_time": f"2025-06-01T10:00:{version:02d}+0000",
        }
    }


def send(client: httpx.Client, event: tuple[str, dict]) -> int:
    entity, body = event
    return send_signed(client, f"/webhooks/zoho/{entity}/", body).status_code


PROBE = "tds-probe"


def on_every_server_connection(bouncer: PrivatePgBouncer, database: str, setting: str) -> list[str]:
    """``setting`` as each server connection of the pool has it.

    As many clients as the pool has server connections, each holding a transaction open: no
    two can share one, so together they see every server connection there is.
    """
    clients = [
        connect(bouncer.url(database), application_name=PROBE) for _ in range(bouncer.pool_size)
    ]
    try:
        return [client.execute(f"SHOW {setting}").fetchone()[0] for client in clients]
    finally:
        for client in clients:
            client.close()


def probe_waits(bouncer: PrivatePgBouncer) -> bool:
    """Whether a probe waits in the bouncer's queue for a server connection."""
    clients = bouncer.clients()
    return any(c["application_name"] == PROBE and c["state"] == "waiting" for c in clients)


# Holds the worker's apply of a product, on its server connection, until the test inserts a
# row into hold_open: a wait of the test's choosing (no lock, so no lock_timeout ends it).
_HOLD_PRODUCT_INSERTS = """
CREATE TABLE hold_open (released boolean NOT NULL);
CREATE FUNCTION hold_until_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WHILE NOT EXISTS (SELECT 1 FROM hold_open) LOOP
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN NEW;
END $$;
CREATE TRIGGER hold_until_released BEFORE INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION hold_until_released();
"""


def held(db: FaultDatabase) -> bool:
    return db.value("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") == 1


def test_a_client_that_gets_the_workers_server_connection_mid_drain_commits_durably(
    tmp_path, faultdb, pgbouncer
):
    # One server connection: every client of the bouncer takes its turn on the one the
    # worker drains on. The worker's apply is held mid-drain; a probe queued behind it gets
    # that server connection the moment the apply is through.
    bouncer = pgbouncer(1)
    faultdb.cluster.psql(_HOLD_PRODUCT_INSERTS, database=faultdb.name)
    env = through(bouncer, faultdb, WORKER_CONCURRENCY="1")
    with live_api(tmp_path, **env) as base, live_worker(tmp_path, **env) as worker:
        with httpx.Client(base_url=base) as client:
            assert send(client, product(1, 1)) == 202
        wait_until(lambda: held(faultdb), 30, worker.output)
        with ThreadPoolExecutor(1) as probe:
            seen = probe.submit(
                on_every_server_connection, bouncer, faultdb.name, "synchronous_commit"
            )
            wait_until(lambda: probe_waits(bouncer), 10)
            faultdb.cluster.psql("INSERT INTO hold_open VALUES (true)", database=faultdb.name)
            assert seen.result(10) == ["on"]
        wait_until(lambda: faultdb.finished() == 1, 30, worker.output)
    faultdb.assert_accounted(1)


# Which synchronous_commit each ingest ran under: a trigger writes it down as the inbox row is
# inserted, in the ingest's own transaction.
_RECORD_INGEST_COMMIT_MODE = """
CREATE TABLE ingest_commit_modes (mode text NOT NULL);
CREATE FUNCTION record_ingest_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ingest_commit_modes VALUES (current_setting('synchronous_commit'));
    RETURN NULL;
END $$;
CREATE TRIGGER record_ingest_commit_mode AFTER INSERT ON tds_inbox_events
    FOR EACH ROW EXECUTE FUNCTION record_ingest_commit_mode();
"""


def test_the_pipeline_through_pgbouncer_applies_every_event_and_leaves_no_setting_behind(
    tmp_path, faultdb, pgbouncer
):
    # Fewer server connections than clients (2 API workers, 2 drain workers, the cluster's
    # own processes): every server connection serves API and worker in turn.
    bouncer = pgbouncer(3)
    faultdb.cluster.psql(_RECORD_INGEST_COMMIT_MODE, database=faultdb.name)
    records, versions = 40, 4
    events = [
        make(n, version)
        for make in (product, invoice)
        for n in range(records)
        for version in range(1, versions + 1)
    ]
    random.Random(10).shuffle(events)  # older versions arrive after newer ones too
    env = through(bouncer, faultdb, API_WORKERS="2", WORKER_CONCURRENCY="2")
    with live_api(tmp_path, **env) as base, live_worker(tmp_path, **env) as worker:
        with httpx.Client(base_url=base, timeout=10) as client, ThreadPoolExecutor(4) as senders:
            statuses = list(senders.map(lambda event: send(client, event), events))
        assert statuses == [202] * len(events)
        wait_until(lambda: faultdb.finished() == len(events), 45, worker.output)
    faultdb.assert_accounted(len(events))

    newest = [product(n, versions)[1]["item"] for n in range(records)]
    assert faultdb.rows("SELECT zoho_id, name FROM products ORDER BY zoho_id") == [
        (item["item_id"], item["name"]) for item in newest
    ]
    assert faultdb.rows(
        "SELECT i.zoho_id, i.total, l.quantity, l.product_id = p.id "
        "FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id "
        "JOIN products p ON p.zoho_id = l.item_zoho_id ORDER BY i.zoho_id"
    ) == [
        (f"7200{n:04d}", Decimal(100 * n + versions), Decimal(versions), True)
        for n in range(records)
    ]
    assert faultdb.rows("SELECT mode, count(*) FROM ingest_commit_modes GROUP BY mode") == [
        ("on", len(events))
    ]
    assert on_every_server_connection(bouncer, faultdb.name, "synchronous_commit") == ["on"] * 3


def test_a_postgres_restart_behind_pgbouncer_costs_no_attempt(tmp_path, faultdb, pgbouncer):
    # Behind PgBouncer the worker's own connection survives the restart: only the error's
    # SQLSTATE tells the database's outage from a failure of the event.
    env = through(pgbouncer(4), faultdb)
    records = 200
    with live_api(tmp_path, **env) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            for n in range(records):
                assert send(client, invoice(n, 1)) == 202
        with live_worker(tmp_path, **env):
            wait_until(lambda: faultdb.finished() >= 5, 60, faultdb.by_status, interval=0.02)
            faultdb.cluster.restart("fast")
            assert faultdb.finished() < records, "the restart came too late to prove anything"
            wait_until(lambda: faultdb.finished() == records, 60, faultdb.by_status)
    faultdb.assert_accounted(records)
