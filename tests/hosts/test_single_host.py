"""One Debian 12 host, installed as docs/operations.md says, then upgraded under load,
rebooted mid-burst, backed up by its timer and restored onto a second fresh host.

The tests run in file order on one installed host (each builds on the one before), which
keeps the stage within its time budget."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.hosts import runbook
from tests.hosts.conftest import CHECKOUT, INSTALL_ENV
from tests.hosts.machines import GATEWAY, SENDERS, Machine, copy_checkout
from tests.hosts.site import (
    Load,
    Site,
    assert_applied_once_in_order,
    fixture_webhooks,
    unfinished,
    wait_for,
)
from tests.processes import ROOT

UNITS = (
    "tds-core-api.socket",
    "tds-core-api.service",
    "tds-core-worker.service",
    "tds-core-watchdog.timer",
    "tds-core-backup.timer",
    "nginx.service",
    "postgresql.service",
)
ERP_TABLES = [
    "products",
    "customers",
    "vendors",
    "invoices",
    "invoice_lines",
    "bills",
    "bill_lines",
    "credit_notes",
    "credit_note_lines",
    "sales_orders",
    "sales_order_lines",
    "payments",
    "stock_adjustments",
    "stock_adjustment_lines",
    "price_lists",
    "price_list_items",
]


def install(machine: Machine) -> None:
    """The runbook's first install, word for word; Prometheus is this machine."""
    runbook.run(machine, "First install", 0, {"prometheus address": GATEWAY}, env=INSTALL_ENV)


@pytest.fixture(scope="module")
def hosts(machines):
    """The installed host, and a second fresh one booted for the restore (installed later)."""
    single, spare = machines(("single", 10), ("spare", 11))
    install(single)
    return single, spare


@pytest.fixture(scope="module")
def host(hosts) -> Machine:
    return hosts[0]


@pytest.fixture(scope="module")
def site(host, workdir) -> Site:
    return Site.of(host, workdir)


def test_every_unit_is_active_after_the_install(host):
    for unit in UNITS:
        assert host.active(unit) == "active", host.out(f"systemctl status {unit}", check=False)
    assert host.out("systemctl is-enabled tds-core-backup.timer") == "enabled"
    timers = host.out("systemctl list-timers --all --no-legend 'tds-core-*'")
    assert "tds-core-backup.timer" in timers and "tds-core-watchdog.timer" in timers


def test_a_signed_webhook_of_every_module_is_accepted_and_applied(host, site):
    ids = []
    for entity, table, body in fixture_webhooks():
        status, answer = site.post_webhook(entity, body)
        assert status == 202, (entity, status, answer)
        ids.append(json.loads(answer)["event_id"])
    ids_sql = ",".join(ids)

    def done() -> bool:
        return host.psql(
            f"SELECT count(*) FROM tds_sync_queue WHERE inbox_event_id IN ({ids_sql}) "
            "AND status = 'completed' AND outcome = 'applied'"
        ) == str(len(ids))

    wait_for(done, 60, "every fixture's event applied")
    for _, table, _ in fixture_webhooks():
        assert int(host.psql(f"SELECT count(*) FROM {table}")) >= 1, table


def test_the_admin_login_page_loads_with_its_static_files(site):
    status, page = site.request("GET", "/tds/admin/login/")
    assert status == 200
    assert b"csrfmiddlewaretoken" in page
    css = re.search(rb'href="(/tds/static/admin/css/[^"]+\.css)"', page)
    assert css, page[:2000]
    assert site.request("GET", css[1].decode())[0] == 200  # nginx serves collectstatic's files


def test_metrics_answer_the_allowed_address_only(site):
    allowed = site.connection(GATEWAY)
    status, body = site.request("GET", "/tds/metrics", conn=allowed)
    assert status == 200 and b"tds_" in body, body[:500]
    other = site.connection(SENDERS[1])
    status, body = site.request("GET", "/tds/metrics", conn=other)
    assert status == 401 and b"tds_" not in body, body[:500]  # credentials needed


def test_the_journal_holds_json_lines_without_secrets(host):
    lines = host.out(
        "journalctl -o cat _SYSTEMD_UNIT=tds-core-api.service + "
        "_SYSTEMD_UNIT=tds-core-worker.service"
    ).splitlines()
    assert len(lines) > 10
    not_json = []
    for line in lines:
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError):
            not_json.append(line)
    assert not_json == []
    env = dict(re.findall(r"^([A-Z_]+)=(.*)$", host.read("/opt/tds_core/.env"), re.M))
    password = re.search(r"://[^:]+:([^@]+)@", env["DATABASE_URL"])[1]
    everything = host.out("journalctl -o cat --no-pager")
    for secret in (env["SECRET_KEY"], env["ZOHO_WEBHOOK_SECRETS"], password):
        assert secret not in everything


def _pids(host: Machine) -> dict[str, str]:
    api = host.out("systemctl show -p MainPID --value tds-core-api.service")
    return {
        "api": api,
        "api workers": host.out(f"ps -o pid= --ppid {api} | sort | tr -d ' ' | tr '\\n' ,"),
        "worker": host.out("systemctl show -p MainPID --value tds-core-worker.service"),
    }


def keep(host: Machine, name: str, text: str) -> None:
    """Evidence for a person reading a run: tests/artifacts/hosts/<host>-<name>."""
    folder = ROOT / "tests" / "artifacts" / "hosts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{host.name}-{name}").write_text(text)


def worker_stop_seconds(host: Machine) -> float:
    """How long the worker's last stop took (systemd's Stopping -> Stopped lines)."""
    lines = host.out("journalctl -u tds-core-worker -o short-unix _PID=1 --no-pager").splitlines()
    stopping = [float(line.split()[0]) for line in lines if "Stopping tds-core-worker" in line]
    stopped = [float(line.split()[0]) for line in lines if "Stopped tds-core-worker" in line]
    assert stopping and stopped, lines
    return stopped[-1] - stopping[-1]


def test_upgrade_under_load_refuses_nothing_and_applies_every_event_once(host, site, report):
    """The runbook's upgrade (new checkout, migrate, reload API, restart worker) while a
    sender posts 50 webhooks/s: no refused connection, no 5xx, each event applied once."""
    new = copy_checkout(ROOT, host, "/root/tds-core-next")
    before = _pids(host)
    load = Load(site, "up", records=100, per_record=1000, rate=50, threads=10).start()
    time.sleep(3)
    started = time.monotonic()
    result = runbook.run(
        host, "Upgrade with zero lost webhooks", 0, {"new checkout": new}, env=INSTALL_ENV
    )
    upgrade_seconds = time.monotonic() - started
    time.sleep(3)
    load.stop()
    after = _pids(host)
    assert after["api"] == before["api"]  # reloaded, not restarted: the socket never closed
    assert after["api workers"] != before["api workers"]  # new workers, new code
    assert after["worker"] != before["worker"]  # the worker restarted
    assert "systemctl reload-or-restart tds-core-api.service" in result.stdout
    stop_seconds = worker_stop_seconds(host)
    keep(host, "upgrade-install.log", result.stdout + result.stderr)
    keep(
        host,
        "upgrade-worker-journal.log",
        host.out("journalctl -u tds-core-worker -o short-precise"),
    )
    assert load.errors == [] and set(load.statuses) == {202}, (load.statuses, load.errors[:5])
    # SIGTERM lets the tasks in hand finish; within TimeoutStopSec=180, so no KILL.
    journal = host.out("journalctl -u tds-core-worker -o cat _PID=1")
    assert "timed out. Killing" not in journal and stop_seconds < 180, stop_seconds
    wait_for(lambda: unfinished(host, "up") == 0, 120, "the queue drained")
    assert_applied_once_in_order(host, load)
    host.run("systemctl restart tds-core-worker")  # the same stop, with nothing to do
    idle_stop_seconds = worker_stop_seconds(host)
    report(
        f"upgrade under load: {load.sent} events sent at 50/s over "
        f"{load.finished - load.started:.0f} s, upgrade took {upgrade_seconds:.0f} s "
        f"(worker stop {stop_seconds:.1f} s under load, {idle_stop_seconds:.1f} s idle); "
        f"answers {dict(load.statuses)}, refused/errors {len(load.errors)}; all applied once"
    )


def test_reboot_mid_burst_everything_comes_back_and_the_count_holds(host, site, report):
    load = Load(site, "rb", records=50, per_record=1000, rate=50, threads=10, retry=True)
    load.start()
    time.sleep(3)
    accepted_before = load.sent
    host.reboot()
    for unit in UNITS:  # nothing started by hand: every unit came back by itself
        wait_for(lambda u=unit: host.active(u) == "active", 60, f"{unit} active after boot")
    time.sleep(3)
    load.stop()
    assert load.sent > accepted_before
    wait_for(lambda: unfinished(host, "rb") == 0, 120, "the queue drained after the reboot")
    assert_applied_once_in_order(host, load)
    report(
        f"reboot mid-burst: {load.sent} events acknowledged, answers {dict(load.statuses)}, "
        f"{len(load.errors)} refused while the host was down (sent again); all applied once"
    )


def _checksums(machine: Machine) -> dict[str, str]:
    return {
        table: machine.psql(
            f"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) "
            f"FROM {table} t"
        )
        for table in ERP_TABLES
    }


def _latest_dump(machine: Machine) -> str:
    return machine.out("ls -1t /var/backups/tds_core/*.dump | head -n1")


def test_backup_from_its_timer_and_restore_on_a_fresh_host(hosts, workdir):
    host, spare = hosts
    # The spare host installs while the timer runs here.
    copy_checkout(ROOT, spare, CHECKOUT)
    with ThreadPoolExecutor(1) as pool:
        spare_install: Future = pool.submit(install, spare)
        # The timer, made to fire now rather than at 02:30: the unit it starts is the one
        # installed, unchanged.
        # (/run is the container's own tmpfs: written from inside.)
        dropin = "/run/systemd/system/tds-core-backup.timer.d"
        host.run(
            f"mkdir -p {dropin} && "
            f"printf '[Timer]\\nOnCalendar=\\nOnCalendar=*:*:0/5\\n' >{dropin}/now.conf"
        )
        host.run("systemctl daemon-reload && systemctl restart tds-core-backup.timer")
        wait_for(
            lambda: host.out("ls /var/backups/tds_core | grep -c '\\.dump$' || true") != "0",
            90,
            "a dump from the timer",
        )
        wait_for(
            lambda: host.active("tds-core-backup.service") == "inactive",
            60,
            "the backup service finished",
        )
        assert host.out("systemctl show -p Result --value tds-core-backup.service") == "success"
        host.run(f"rm -r {dropin} && systemctl daemon-reload")
        host.run("systemctl restart tds-core-backup.timer")
        assert "02:30:00" in host.out("systemctl list-timers --no-legend tds-core-backup.timer")
        # The runbook's look at the timer and a backup now.
        runbook.run(host, "Backup and restore", 0)
        spare_install.result()
    dump = _latest_dump(host)
    source = _checksums(host)
    assert int(source["products"].split()[0]) > 100  # the loads above are in it
    spare.put("/root/tds-core.dump", "")
    (spare.root / "root/tds-core.dump").write_bytes((host.root / dump.lstrip("/")).read_bytes())
    runbook.run(spare, "Backup and restore", 1, {"dump": "/root/tds-core.dump"})
    assert _checksums(spare) == source
    for unit in UNITS:
        assert spare.active(unit) == "active", unit
    # The drill on the first host: a scratch copy, compared, dropped.
    drill = runbook.run(host, "Backup and restore", 2, {"latest dump": dump})
    first, second = drill.stdout.strip().splitlines()[-2:]
    assert first == second, drill.stdout


def test_restore_over_a_live_install_refuses_until_its_services_stop(host):
    dump = _latest_dump(host)
    refused = host.run(
        f"cd /opt/tds_core && deploy/restore.sh --env-file /opt/tds_core/.env "
        f"--dbname tsh_erp --force {dump}",
        check=False,
    )
    assert refused.returncode == 1
    assert "is running; stop TDS Core first" in refused.stderr
    assert host.active("tds-core-api.service") == "active"
