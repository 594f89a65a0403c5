"""The deployment kit's static checks: shellcheck, systemd-analyze, install --dry-run,
check --deploy with env.example, and the environment file itself."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, VENV_BIN

UNITS = (
    "tds-core-api.service",
    "tds-core-api.socket",
    "tds-core-worker.service",
    "tds-core-watchdog.service",
    "tds-core-watchdog.timer",
    "tds-core-backup.service",
    "tds-core-backup.timer",
)

# CONTRACT §2: the deployment guide's variables plus the added ones.
_NAMES = """APP_NAME ENV DEBUG API_HOST API_PORT API_WORKERS DATABASE_HOST DATABASE_PORT
DATABASE_NAME DATABASE_USER DATABASE_PASSWORD DATABASE_POOL_SIZE DATABASE_MAX_OVERFLOW
DATABASE_POOL_TIMEOUT WORKER_CONCURRENCY WORKER_BATCH_SIZE WORKER_POLL_INTERVAL
RETRY_MAX_ATTEMPTS RETRY_DELAYS MONITORING_INTERVAL ALERT_EMAIL_ENABLED ALERT_SLACK_ENABLED
SECRET_KEY DATABASE_URL ALLOWED_HOSTS ZOHO_WEBHOOK_SECRETS WEBHOOK_TOKEN WEBHOOK_ALLOW_UNSIGNED
WEBHOOK_MAX_BODY_BYTES WEBHOOK_RATE_LIMIT STUCK_EVENT_MINUTES REDIS_URL ALERT_SLACK_WEBHOOK_URL
ALERT_EMAIL_TO EMAIL_URL INBOX_RETENTION_DAYS LOG_RETENTION_DAYS ALERT_PENDING_WARNING
ALERT_PENDING_CRITICAL ALERT_DLQ_WARNING ALERT_DLQ_CRITICAL ALERT_FAILURE_RATE_WARNING
ALERT_FAILURE_RATE_CRITICAL ZOHO_API_BASE_URL ZOHO_ACCOUNTS_URL ZOHO_CLIENT_ID
ZOHO_CLIENT_SECRET ZOHO_REFRESH_TOKEN ZOHO_ORGANIZATION_ID TRUSTED_PROXIES"""
CONTRACT_VARIABLES = _NAMES.split()


def need(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    return path


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if match:
            pairs[match[1]] = match[2]
    return pairs


def test_env_example_names_every_contract_variable():
    names = env_example()
    # DATABASE_URL is shown commented out: set, it would win over the DATABASE_* set.
    text = (DEPLOY / "env.example").read_text()
    commented = set(re.findall(r"^# ?([A-Z_][A-Z0-9_]*)=", text, re.M))
    missing = [name for name in CONTRACT_VARIABLES if name not in names and name not in commented]
    assert missing == []
    assert "DATABASE_URL" in commented
    assert names["TRUSTED_PROXIES"] == "127.0.0.1"
    assert names["ENV"] == "production"
    assert names["WEBHOOK_MAX_BODY_BYTES"] == "1048576"
    # install.sh fills these in; nothing secret is committed.
    assert names["SECRET_KEY"] == names["ZOHO_WEBHOOK_SECRETS"] == "CHANGE_ME"


def test_nginx_body_limit_matches_the_app_limit():
    site = (DEPLOY / "nginx" / "tds-core.conf").read_text()
    assert re.search(r"^\s*client_max_body_size 1m;", site, re.M)
    assert int(env_example()["WEBHOOK_MAX_BODY_BYTES"]) == 1024 * 1024


@pytest.mark.parametrize("stuck_minutes", ["1", "15"])
def test_check_deploy_with_env_example_reports_nothing(tmp_path, stuck_minutes):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "ZOHO_"))}
    env.update(env_example())
    env.update(
        STUCK_EVENT_MINUTES=stuck_minutes,  # any lease of a minute or more is valid
        SECRET_KEY=secrets.token_urlsafe(48),
        ZOHO_WEBHOOK_SECRETS="Abc123" + secrets.token_hex(10),
        DATABASE_PASSWORD="not-used-by-check",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    (tmp_path / "static").mkdir()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output.upper().replace("--FAIL-LEVEL WARNING", "")


def test_pgbouncer_mode_turns_off_what_transaction_pooling_breaks():
    from tds_site.config import Reader, database_settings

    env = {"DATABASE_URL": "postgres://tds@127.0.0.1:6432/tds", "DATABASE_PGBOUNCER": "true"}
    config = database_settings(Reader(env), ROOT, use_pool=True)
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert config["OPTIONS"]["prepare_threshold"] is None
    assert "pool" not in config["OPTIONS"]
    assert config["CONN_MAX_AGE"] == 0
    pooled = database_settings(Reader({"DATABASE_URL": env["DATABASE_URL"]}), ROOT, True)
    assert "pool" in pooled["OPTIONS"]
    assert not pooled.get("DISABLE_SERVER_SIDE_CURSORS")


def shell_scripts() -> list[Path]:
    scripts = [p for p in sorted(DEPLOY.rglob("*.sh"))]
    scripts += [p for p in sorted((ROOT / "bin").iterdir()) if p.is_file()]
    return scripts


def test_shellcheck_passes_on_every_script():
    shellcheck = need("shellcheck")
    scripts = shell_scripts()
    assert {"install.sh", "backup.sh", "restore.sh", "_venv.sh", "run", "test"} <= {
        p.name for p in scripts
    }
    for script in scripts:
        # Sourced files have no shebang: tell shellcheck they are bash.
        extra = [] if script.read_text().startswith("#!") else ["-s", "bash"]
        result = subprocess.run(
            # From the root, as bin/run and bin/test source bin/_venv.sh from there.
            [shellcheck, "-x", *extra, str(script.relative_to(ROOT))],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{script}:\n{result.stdout}{result.stderr}"


def test_shellcheck_is_not_a_rubber_stamp(tmp_path):
    shellcheck = need("shellcheck")
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    assert subprocess.run([shellcheck, str(bad)], capture_output=True).returncode != 0


def units_for_verify(tmp_path: Path) -> list[Path]:
    """Copies of the units whose paths exist here: the venv's gunicorn and python, this
    checkout as the working directory, env.example as the environment file."""
    env_file = tmp_path / "env"
    shutil.copy(DEPLOY / "env.example", env_file)
    copies = []
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        for old, new in (
            ("/opt/tds_core/venv/bin/gunicorn", str(VENV_BIN / "gunicorn")),
            ("/opt/tds_core/venv/bin/python", str(VENV_BIN / "python")),
            ("EnvironmentFile=/opt/tds_core/.env", f"EnvironmentFile={env_file}"),
            ("WorkingDirectory=/opt/tds_core", f"WorkingDirectory={ROOT}"),
            ("ExecStart=/opt/tds_core/deploy/", f"ExecStart={DEPLOY}/"),
        ):
            text = text.replace(old, new)
        assert "/opt/tds_core/venv" not in text and "EnvironmentFile=/opt" not in text
        copy = tmp_path / name
        copy.write_text(text)
        copies.append(copy)
    return copies


def run_verify(units: list[Path]) -> subprocess.CompletedProcess:
    analyze = need("systemd-analyze")
    return subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)],
        cwd=units[0].parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    result = run_verify(units_for_verify(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    # Warnings (a deprecated or misspelt directive) do not change the exit code.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "tds-core" in line]
    assert ours == []


def test_systemd_analyze_verify_catches_mistakes(tmp_path):
    """The same check on a broken copy complains: the test above can fail."""
    units = units_for_verify(tmp_path)
    api = units[0]
    api.write_text(api.read_text().replace("MemoryMax=2G", "MemoryLimit=2G\nRestartt=always"))
    result = run_verify(units)
    output = result.stdout + result.stderr
    assert "Restartt" in output
    assert "MemoryLimit" in output


def unit_settings(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize(
    "name",
    [
        "tds-core-api.service",
        "tds-core-worker.service",
        "tds-core-watchdog.service",
        "tds-core-backup.service",
    ],
)
def test_units_run_unprivileged_and_hardened(name):
    unit = unit_settings(name)
    assert unit["User"] == ["tds"] and unit["Group"] == ["tds"]
    assert unit["EnvironmentFile"] == ["/opt/tds_core/.env"]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert unit[key] in (["strict"], ["true"]), key
    assert unit["CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize("name", ["tds-core-api.service", "tds-core-worker.service"])
def test_long_running_units_restart_and_stop_gracefully(name):
    unit = unit_settings(name)
    assert unit["Restart"] == ["on-failure"]
    assert unit["LimitNOFILE"] == ["65536"]
    assert unit["KillMode"] == ["mixed"]
    assert "MemoryMax" in unit and "MemoryLimit" not in unit


def test_watchdog_timer_runs_worker_down_from_outside_the_worker():
    service = unit_settings("tds-core-watchdog.service")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == [
        "/opt/tds_core/venv/bin/python manage.py tds_monitor --once --only worker_down"
    ]
    timer = unit_settings("tds-core-watchdog.timer")
    assert timer["OnCalendar"] == ["minutely"]
    assert timer["WantedBy"] == ["timers.target"]


def test_backup_timer_runs_the_backup_nightly_as_the_service_user():
    service = unit_settings("tds-core-backup.service")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == [
        "/opt/tds_core/deploy/backup.sh --env-file /opt/tds_core/.env "
        "--dir /var/backups/tds_core --keep-days 14"
    ]
    assert service["ReadWritePaths"] == ["/var/backups/tds_core"]  # its only writes
    timer = unit_settings("tds-core-backup.timer")
    assert timer["OnCalendar"] == ["*-*-* 02:30:00"]
    assert timer["Persistent"] == ["true"]  # a night the host was off is made up for
    assert not (DEPLOY / "cron.d").exists()


def test_api_unit_is_notify_with_graceful_reload():
    unit = unit_settings("tds-core-api.service")
    assert unit["Type"] == ["notify"]
    assert unit["ExecStart"][0].endswith(
        "venv/bin/gunicorn -c deploy/gunicorn.conf.py tds_site.wsgi"
    )
    assert unit["ExecReload"] == ["/bin/kill -s HUP $MAINPID"]
    worker = unit_settings("tds-core-worker.service")
    assert worker["ExecStart"][0].endswith("venv/bin/python manage.py qcluster")
    assert worker["KillSignal"] == ["SIGTERM"]
    assert int(worker["TimeoutStopSec"][0]) >= 120  # longer than a drain task may run


def test_api_socket_may_bind_an_address_the_network_has_not_brought_up_yet():
    """At boot sockets.target comes before the network: an app host's own ListenStream
    address failed to bind after a power cut (the host stage's power-off test)."""
    socket_unit = unit_settings("tds-core-api.socket")
    assert socket_unit["FreeBind"] == ["true"]


def snapshot(paths: list[Path]) -> dict[str, bool]:
    return {str(p): p.exists() for p in paths}


def test_install_dry_run_prints_the_steps_and_changes_nothing(tmp_path):
    prefix = tmp_path / "opt" / "tds_core"
    user = f"tdsdry{secrets.token_hex(3)}"
    watched = [
        Path("/etc/systemd/system/tds-core-api.service"),
        Path("/etc/nginx/sites-available/tds-core"),
        Path("/etc/cron.d/tds-core"),
        Path("/var/backups/tds_core"),
        Path("/opt/tds_core"),
    ]
    before = snapshot(watched)
    for argv in (
        ["--dry-run"],
        ["--dry-run", "--skip-packages", "--prefix", str(prefix), "--user", user],
    ):
        result = subprocess.run(
            ["bash", str(DEPLOY / "install.sh"), *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert "DRY RUN" in out
        for expected in (
            "useradd --system",
            "-m venv",
            "pip install --quiet",
            "manage.py migrate --no-input",
            "manage.py collectstatic",
            "write /etc/systemd/system/tds-core-api.service",
            "write /etc/systemd/system/tds-core-worker.service",
            "write /etc/systemd/system/tds-core-watchdog.service",
            "write /etc/systemd/system/tds-core-watchdog.timer",
            "systemctl enable --now tds-core-watchdog.timer",
            "systemctl enable",
            "/etc/nginx/sites-enabled/tds-core",
            "nginx -t",
            "write /etc/systemd/system/tds-core-backup.service",
            "write /etc/systemd/system/tds-core-backup.timer",
            "systemctl enable --now tds-core-backup.timer",
        ):
            assert expected in out, expected
        assert re.search(r"write \S+/\.env \(mode 0640", out)
        assert "SECRET_KEY=" not in out  # generated secrets are never printed
        assert "createcachetable" not in out  # migrate makes the cache table
    assert f"useradd --system --user-group --home-dir {prefix}" in out
    assert not prefix.parent.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    assert snapshot(watched) == before


def test_install_takes_its_packages_from_the_lock_with_hashes(tmp_path):
    prefix = tmp_path / "opt" / "tds_core"
    result = subprocess.run(
        ["bash", str(DEPLOY / "install.sh"), "--dry-run", "--skip-packages", "--prefix", prefix],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pip = f"{prefix}/venv/bin/pip install --quiet"
    installs = [line for line in result.stdout.splitlines() if "pip install" in line]
    # The locked releases first, then the project alone: no unpinned `--upgrade pip`.
    assert installs == [
        f"+ {pip} --require-hashes -r {prefix}/requirements.txt",
        f"+ {pip} --no-deps --no-build-isolation {prefix}",
    ]
    assert (ROOT / "requirements.txt").is_file()  # rsync copies it to the prefix


def render_env(**env: str) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "render_env.py"), str(DEPLOY / "env.example")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", result.stdout, re.M))


def test_render_env_fills_in_a_first_install():
    first = render_env(TDS_PREFIX="/srv/tds", TDS_SERVER_NAME="erp.example.com")
    assert re.fullmatch(r"[A-Za-z0-9]{64}", first["SECRET_KEY"])
    assert re.fullmatch(r"[A-Za-z0-9]{40}", first["ZOHO_WEBHOOK_SECRETS"])
    assert first["ALLOWED_HOSTS"] == "erp.example.com,localhost,127.0.0.1"
    assert first["DATABASE_PASSWORD"] == "CHANGE_ME"  # no DATABASE_URL: install.sh stops
    assert "DATABASE_URL" not in first
    assert "/opt/tds_core" not in "".join(first.values())
    assert first["STATIC_ROOT"] == "/srv/tds/staticfiles"
    url = "postgres://tds:pw@localhost:5432/tsh_erp"
    second = render_env(TDS_PREFIX="/opt/tds_core", TDS_SERVER_NAME="a.b", DATABASE_URL=url)
    assert (second["DATABASE_URL"], second["DATABASE_PASSWORD"]) == (url, "")
    assert second["SECRET_KEY"] != first["SECRET_KEY"]
    assert second["ZOHO_WEBHOOK_SECRETS"] != first["ZOHO_WEBHOOK_SECRETS"]


def test_install_puts_no_secret_on_a_command_line(tmp_path):
    """Every program install.sh starts, with its arguments as ps shows them: none carries a
    generated secret (a run of 40+ letters and digits)."""
    strace = need("strace")
    trace = tmp_path / "execve.txt"
    prefix = tmp_path / "opt" / "tds_core"
    tracer = [strace, "-f", "-qq", "-e", "trace=execve", "-s", "65536", "-o", str(trace)]
    install = ["bash", str(DEPLOY / "install.sh"), "--dry-run", "--skip-packages"]
    result = subprocess.run(
        [*tracer, *install, "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [line for line in trace.read_text().splitlines() if "execve(" in line]
    leaked = [c for c in calls if re.search(r"(?<![A-Za-z0-9])[A-Za-z0-9]{40,}(?![A-Za-z0-9])", c)]
    assert leaked == []
    assert any("render_env.py" in call for call in calls)  # the .env was rendered


def test_install_refuses_unknown_arguments():
    result = subprocess.run(
        ["bash", str(DEPLOY / "install.sh"), "--dry-run", "--frobnicate"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown argument: --frobnicate" in result.stderr


def test_install_dry_run_of_a_database_host_prints_its_steps_and_no_password():
    result = subprocess.run(
        ["bash", str(DEPLOY / "install.sh"), "--dry-run", "--database-host", "--allow",
         "10.0.0.0/24", "--pgbouncer"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for expected in (
        "/conf.d/tds-core.conf (mode 0644",
        "create role tds, database tsh_erp",
        "write /etc/pgbouncer/pgbouncer.ini",
        "systemctl restart pgbouncer",
        "write /etc/tds-core/database.env (mode 0600, root:root)",
    ):
        assert expected in out, expected
    assert ":6432/tsh_erp" in out  # the app hosts go through PgBouncer
    assert not re.search(r"[0-9a-f]{48}", out)  # the generated password is never printed
    assert "useradd" not in out  # a database host runs no app
