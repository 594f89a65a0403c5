"""Two app hosts (API + worker each) on one database host, nginx on the first balancing both
APIs, installed with the runbook's commands; 5,000 events for 500 records sent to both while
one host loses its power; then the same behind PgBouncer in transaction mode.

The three containers are made once and reconfigured for PgBouncer, not rebuilt."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.hosts import runbook
from tests.hosts.conftest import INSTALL_ENV
from tests.hosts.machines import SENDERS, SUBNET, Machine
from tests.hosts.site import Load, Site, assert_applied_once_in_order, unfinished, wait_for

DATABASE_ENV = "/etc/tds-core/database.env"
APP_UNITS = ("tds-core-api.socket", "tds-core-api.service", "tds-core-worker.service")


@dataclass
class Cluster:
    db: Machine
    app1: Machine
    app2: Machine
    site: Site

    def psql(self, sql: str) -> str:
        return self.db.psql(sql)


def on_both(action: Callable[[Machine], object], cluster: Cluster) -> None:
    """``action`` on both app hosts at once, as an operator with two terminals would (a
    worker's stop may last until its TimeoutStopSec)."""
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(action, m) for m in (cluster.app1, cluster.app2)]:
            future.result()


def copy_file(source: Machine, path: str, target: Machine, dest: str, mode: int) -> None:
    """What the operator does with scp: the same bytes, root's, ``mode``."""
    target.put(dest, source.read(path), mode)


@pytest.fixture(scope="module")
def cluster(machines, workdir) -> Cluster:
    db, app1, app2 = machines(("db", 20), ("app1", 21), ("app2", 22))
    network = f"{SUBNET}.0/24"
    values = {
        "app network": network,
        "address 1": app1.address,
        "address 2": app2.address,
    }
    runbook.run(db, "Database host", 0, values)
    copy_file(db, DATABASE_ENV, app1, DATABASE_ENV, 0o600)
    runbook.run(app1, "App hosts", 0, values, env=INSTALL_ENV)
    # A lost host's claims come back after STUCK_EVENT_MINUTES: one minute here (any whole
    # number is a valid production setting), so the test need not wait the default 15.
    app1.run(
        "sed -i 's/^STUCK_EVENT_MINUTES=.*/STUCK_EVENT_MINUTES=1/' /opt/tds_core/.env && "
        "systemctl restart tds-core-api tds-core-worker"
    )
    copy_file(app1, "/opt/tds_core/.env", app2, "/root/tds-core.env", 0o600)
    runbook.run(app2, "App hosts", 1, values, env=INSTALL_ENV)
    for machine in (app1, app2):
        for unit in APP_UNITS:
            assert machine.active(unit) == "active", (machine.name, unit)
        assert machine.active("postgresql") == "inactive"  # the database is on its own host
    return Cluster(db, app1, app2, Site.of(app1, workdir))


def both_apis_answer(cluster: Cluster) -> None:
    """nginx on app1 sends requests to both APIs: each one's access log has some of them."""
    for machine in (cluster.app1, cluster.app2):
        wait_for(lambda m=machine: m.active("tds-core-api.service") == "active", 60, "API")
    marker = f"probe{time.monotonic_ns()}"
    for _ in range(20):
        assert cluster.site.request("GET", f"/tds/health?{marker}")[0] == 200
    for machine in (cluster.app1, cluster.app2):
        log = machine.out(f"journalctl -u tds-core-api -o cat | grep -c {marker} || true")
        assert int(log) > 0, f"{machine.name} served none of the balanced requests"


def drain_rate(cluster: Cluster, run: str, workers: list[Machine], events: int) -> float:
    """Events/s the workers on ``workers`` apply: a backlog sent with every worker stopped,
    then drained by those alone."""
    on_both(lambda machine: machine.run("systemctl stop tds-core-worker"), cluster)
    load = Load(cluster.site, run, records=events // 10, per_record=10, sources=SENDERS)
    load.start().wait()
    assert load.errors == [] and load.sent == events, (load.statuses, load.errors[:5])
    started = time.monotonic()
    for machine in workers:
        machine.run("systemctl start tds-core-worker")
    wait_for(lambda: unfinished(cluster.db, run) == 0, 300, f"{run} drained", every=0.5)
    rate = events / (time.monotonic() - started)
    INGEST[run] = events / (load.finished - load.started)
    on_both(lambda machine: machine.run("systemctl start tds-core-worker"), cluster)
    assert_applied_once_in_order(cluster.db, load)
    return rate


def run_with_a_host_lost(cluster: Cluster, run: str, report) -> dict:
    """5,000 events for 500 records through the balancer; app2 loses its power a third of
    the way in and comes back once every event is applied. Returns what was seen."""
    load = Load(
        cluster.site, run, records=500, per_record=10, threads=12, retry=True, sources=SENDERS
    ).start()
    wait_for(lambda: load.sent >= 1700, 120, "a third of the events sent", every=0.1)
    lost_when = cluster.psql("SELECT now()")  # the alerts seen from here on
    lost_at = time.monotonic()
    cluster.app2.kill()
    load.wait()
    send_seconds = load.finished - load.started
    # Its claims come back when their lease (STUCK_EVENT_MINUTES) runs out; app1 applies them.
    wait_for(lambda: unfinished(cluster.db, run) == 0, 240, f"{run} applied on app1 alone")
    applied_seconds = time.monotonic() - load.started
    assert_applied_once_in_order(cluster.db, load)
    per_host = cluster.psql(
        f"SELECT split_part(worker, ':', 1), count(*) FROM tds_sync_logs "
        f"WHERE record_id LIKE '{run}%' GROUP BY 1 ORDER BY 1"
    )
    # The watchdog (tds-core-watchdog.timer, every minute) on the surviving host; started
    # here too so the test need not wait for the next minute.
    wait_for(lambda: time.monotonic() - lost_at > 35, 60, "the lost host's beat to go stale")
    cluster.app1.run("systemctl start tds-core-watchdog.service")
    alerts_while_lost = cluster.psql(
        "SELECT code || ' ' || status || ': ' || message FROM tds_alerts "
        f"WHERE code = 'worker_down' AND last_seen_at >= '{lost_when}' ORDER BY id"
    )
    cluster.app2.start()  # power back: everything starts by itself
    for unit in APP_UNITS:
        wait_for(lambda u=unit: cluster.app2.active(u) == "active", 60, f"app2 {unit}")
    wait_for(
        lambda: (
            cluster.psql(
                "SELECT count(*) FROM tds_worker_heartbeats WHERE host = 'app2' "
                "AND last_beat_at > now() - interval '10 seconds'"
            )
            != "0"
        ),
        60,
        "app2's worker beating again",
    )
    cluster.app1.run("systemctl start tds-core-watchdog.service")
    alerts_after = cluster.psql(
        "SELECT code || ' ' || status || ': ' || message FROM tds_alerts "
        f"WHERE code = 'worker_down' AND last_seen_at >= '{lost_when}' ORDER BY id"
    )
    report(
        f"{run}: {load.sent} events for 500 records sent in {send_seconds:.1f} s "
        f"({load.sent / send_seconds:.0f}/s), all applied once after {applied_seconds:.0f} s "
        f"(app2 powered off after {lost_at - load.started:.0f} s; its claims back after the "
        f"1-minute lease); answers {dict(load.statuses)}, {len(load.errors)} connection "
        f"errors resent; applied per host: {per_host.replace(chr(10), ', ')}"
    )
    return {"while lost": alerts_while_lost, "after": alerts_after}


SEEN: dict[str, dict] = {}
INGEST: dict[str, float] = {}  # events/s answered 202 through nginx while no worker ran


def test_both_apis_serve_through_the_balancer(cluster):
    both_apis_answer(cluster)


def test_capacity_one_and_two_worker_hosts(cluster, report):
    one = drain_rate(cluster, "c1", [cluster.app1], 3000)
    two = drain_rate(cluster, "c2", [cluster.app1, cluster.app2], 3000)
    report(
        f"drain rate, 3,000 events backlog: one worker host {one:.0f}/s, two {two:.0f}/s "
        f"(ingest through nginx, workers stopped: {INGEST['c1']:.0f}/s, {INGEST['c2']:.0f}/s)"
    )


def test_5000_events_one_host_powered_off_each_applied_once_in_order(cluster, report):
    SEEN["direct"] = run_with_a_host_lost(cluster, "tw", report)


def test_worker_down_named_the_lost_host_and_resolved_when_it_was_back(cluster):
    seen = SEEN["direct"]
    assert "open" in seen["while lost"] and "app2" in seen["while lost"], seen
    assert "resolved" in seen["after"] and " open:" not in seen["after"], seen


def test_the_same_behind_pgbouncer_in_transaction_mode(cluster, report):
    values = {"app network": f"{SUBNET}.0/24"}
    runbook.run(cluster.db, "PgBouncer in front of PostgreSQL", 0, values)
    assert cluster.db.active("pgbouncer") == "active"

    def switch(machine: Machine) -> None:
        copy_file(cluster.db, DATABASE_ENV, machine, DATABASE_ENV, 0o600)
        runbook.run(machine, "PgBouncer in front of PostgreSQL", 1, env=INSTALL_ENV)
        env = machine.read("/opt/tds_core/.env")
        assert ":6432/tsh_erp" in env and "DATABASE_PGBOUNCER=true" in env

    on_both(switch, cluster)
    both_apis_answer(cluster)
    rate = drain_rate(cluster, "pb", [cluster.app1, cluster.app2], 3000)
    report(
        f"behind PgBouncer: drain rate with two worker hosts {rate:.0f}/s "
        f"(ingest {INGEST['pb']:.0f}/s)"
    )
    SEEN["pgbouncer"] = run_with_a_host_lost(cluster, "tp", report)
    # PostgreSQL sees TDS Core only through PgBouncer (on its own host): no connection of
    # the role comes from an app host any more.
    clients = cluster.psql(
        "SELECT string_agg(DISTINCT host(client_addr), ',') FROM pg_stat_activity "
        "WHERE usename = 'tds'"
    )
    assert clients == "127.0.0.1", clients
