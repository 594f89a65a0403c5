"""Start-up validation: a bad variable stops the process with one line naming it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tds_site.config import ConfigError, Reader, RetryPolicy, database_settings
from tests.live import process_env
from tests.processes import ROOT


def run_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=process_env(**env) | {"DATABASE_URL": "sqlite:///:memory:"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RETRY_DELAYS": "60,abc"}, "RETRY_DELAYS"),
        ({"ENV": "prod"}, "ENV"),
        ({"ENV": "production", "SECRET_KEY": ""}, "SECRET_KEY"),
        ({"WORKER_CONCURRENCY": "many"}, "WORKER_CONCURRENCY"),
        ({"WEBHOOK_RATE_LIMIT": "fast"}, "WEBHOOK_RATE_LIMIT"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"ALERT_FAILURE_RATE_WARNING": "2"}, "ALERT_FAILURE_RATE_WARNING"),
        ({"DATABASE_URL": "nosuch://x"}, "DATABASE_URL"),
        ({"SENTRY_DSN": "sentry.example"}, "SENTRY_DSN"),
        ({"LEDGER_RETENTION_DAYS": "0"}, "LEDGER_RETENTION_DAYS"),
    ],
)
def test_bad_value_stops_start_up_with_one_line(env, variable):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=process_env(**{"DATABASE_URL": "sqlite:///:memory:", **env}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"TDS Core configuration error: {variable}:")


def test_production_is_hardened_and_deploy_check_is_clean():
    result = run_check(
        "--deploy",
        "--fail-level",
        "WARNING",
        ENV="production",
        DEBUG="true",
        SECRET_KEY="k" * 20 + "x7Q!mZ2#pL9@vR4$tY6^wU8&iO0*aS3(dF5)gH1-jK",
        ALLOWED_HOSTS="tds.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_start():
    assert run_check().returncode == 0


def test_reader_types():
    read = Reader({"A": "1,2, 3", "B": " yes ", "C": "0.5"})
    assert read.int_list("A", "9") == [1, 2, 3]
    assert read.bool("B", False) is True
    assert read.decimal("C", "1") == read.decimal("C", "1")
    with pytest.raises(ConfigError, match=r"^A:"):
        read.int("A", 0)


def test_retry_policy_uses_the_last_delay_beyond_the_list():
    policy = RetryPolicy(max_attempts=5, delays=(60, 300))
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [60, 300, 300, 300]


def test_database_from_url_or_parts(tmp_path):
    pg = database_settings(Reader({"DATABASE_URL": "postgres://u:p@db:5433/tds"}), tmp_path, True)
    assert (pg["HOST"], pg["PORT"], pg["NAME"]) == ("db", 5433, "tds")
    assert pg["OPTIONS"]["pool"] == {"min_size": 10, "max_size": 30, "timeout": 30}
    parts = database_settings(
        Reader({"DATABASE_HOST": "h", "DATABASE_NAME": "erp", "DATABASE_POOL_SIZE": "4"}),
        tmp_path,
        False,
    )
    assert parts["ENGINE"].endswith("postgresql") and parts["NAME"] == "erp"
    assert "pool" not in parts["OPTIONS"]
    sqlite = database_settings(Reader({}), tmp_path, True)
    assert sqlite["ENGINE"].endswith("sqlite3")
    assert sqlite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
