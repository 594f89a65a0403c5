"""backup.sh -> drop the database -> restore.sh, with real pg_dump and pg_restore: the ERP
tables come back row for row."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.deploy.conftest import DEPLOY, ROOT, process_env
from tests.support import FIXTURE_ENTITIES

pytestmark = pytest.mark.e2e

PG = {"host": "127.0.0.1", "port": 5432, "user": "root"}
ERP_TABLES = [
    *("products", "customers", "vendors", "invoices", "invoice_lines", "bills", "bill_lines"),
    *("credit_notes", "credit_note_lines", "sales_orders", "sales_order_lines", "payments"),
    *("stock_adjustments", "stock_adjustment_lines", "price_lists", "price_list_items"),
]


TABLES_BUT_SESSIONS = (
    "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
    "WHERE schemaname = 'public' AND tablename <> 'django_session'"
)


def psql(db: str, sql: str) -> str:
    result = subprocess.run(
        [
            "psql",
            "-h",
            PG["host"],
            "-U",
            PG["user"],
            "-d",
            db,
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def scratch_db():
    """A PostgreSQL database of our own (any DATABASE_URL the suite runs with aside)."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore") and shutil.which("psql")):
        pytest.skip("pg_dump, pg_restore and psql are needed (postgresql-client)")
    probe = subprocess.run(
        ["pg_isready", "-h", PG["host"], "-p", str(PG["port"])], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    names = [f"tds_deploy_backup_{secrets.token_hex(4)}" for _ in range(2)]
    psql("postgres", f"CREATE DATABASE {names[0]}")
    yield names
    for name in names:
        psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def url(db: str) -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db}"


def fill(db: str) -> None:
    """Migrate, then apply every fixture (and a second version of each) through the
    engine, so every ERP table, lines included, has rows."""
    env = process_env(DATABASE_URL=url(db))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    script = f"""
import json
from django.utils import timezone
from entities.engine import apply_event
from entities.mappings import BY_ENTITY
from tests.support import FIXTURES
for name, (_, entity) in {FIXTURE_ENTITIES!r}.items():
    (record,) = json.loads((FIXTURES / f"{{name}}.json").read_text()).values()
    id_field = BY_ENTITY[entity].id_field
    for copy in range(3):
        apply_event(entity, "upsert", {{**record, id_field: f"{{record[id_field]}}{{copy}}"}},
                    timezone.now())
"""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )


def fingerprint(db: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row, in id order, per ERP table."""
    prints = {}
    for table in ERP_TABLES:
        row = psql(
            db,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))"
            f" FROM {table} t",
        )
        count, digest = row.split("|")
        prints[table] = (int(count), digest)
    return prints


def run(script: str, *args: str, path_first: Path | None = None) -> subprocess.CompletedProcess:
    # Only the env file names the database.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PG"))}
    if path_first:
        env["PATH"] = f"{path_first}:{env['PATH']}"
    return subprocess.run(
        ["bash", str(DEPLOY / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_backup_drop_restore_round_trip(scratch_db, tmp_path):
    source, other = scratch_db
    fill(source)
    before = fingerprint(source)
    tables = psql(source, TABLES_BUT_SESSIONS)
    assert all(count > 0 for count, _ in before.values()), before
    psql(
        source,
        "INSERT INTO tds_worker_heartbeats (name, host, pid, started_at, last_beat_at) "
        "VALUES ('old-host:1', 'old-host', 1, now(), now())",
    )

    env_file = tmp_path / "env"
    env_file.write_text(f"ENV=production\nDATABASE_URL={url(source)}\n")
    backups = tmp_path / "backups"
    old = backups / "tds_core_old_20000101T000000Z.dump"
    backups.mkdir()
    old.write_bytes(b"stale")
    subprocess.run(["touch", "-d", "30 days ago", str(old)], check=True)

    made = run("backup.sh", "--env-file", str(env_file), "--dir", str(backups), "--keep-days", "7")
    assert made.returncode == 0, made.stdout + made.stderr
    dumps = sorted(backups.glob("tds_core_*.dump"))
    assert len(dumps) == 1 and not old.exists()  # retention removed the old one
    dump = dumps[0]
    assert oct(dump.stat().st_mode & 0o777) == "0o600"

    psql("postgres", f"DROP DATABASE {source} WITH (FORCE)")
    restored = run("restore.sh", "--env-file", str(env_file), "--dbname", source, str(dump))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert fingerprint(source) == before
    # Not the old hosts' heartbeats: the watchdog would call each of them lost.
    assert psql(source, "SELECT count(*) FROM tds_worker_heartbeats") == "0"
    # Every table that migrate made comes back (sessions aside: logging in again is fine).
    assert psql(source, TABLES_BUT_SESSIONS) == tables
    assert "axes_accessattempt" in tables.split(",") and "tds_cache" in tables.split(",")
    # The restored database is a working TDS Core database: migrations are all recorded.
    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check", "--no-input"],
        cwd=ROOT,
        env=process_env(DATABASE_URL=url(source)),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # A database with tables is not overwritten without --force ...
    refused = run("restore.sh", "--env-file", str(env_file), "--dbname", source, str(dump))
    assert refused.returncode == 1
    assert "not empty" in refused.stderr
    assert fingerprint(source) == before
    # ... and with --force it is replaced by the dump.
    psql(source, "DELETE FROM invoice_lines; UPDATE products SET name = 'changed'")
    forced = run(
        "restore.sh", "--env-file", str(env_file), "--dbname", source, "--force", str(dump)
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert fingerprint(source) == before

    # Into a second, new database by name.
    again = run("restore.sh", "--env-file", str(env_file), "--dbname", other, str(dump))
    assert again.returncode == 0, again.stdout + again.stderr
    assert fingerprint(other) == before


def test_backup_fails_loudly(scratch_db, tmp_path):
    empty = scratch_db[0]  # no tables: the patterns match nothing
    env_file = tmp_path / "env"
    env_file.write_text(f"DATABASE_URL={url(empty)}\n")
    result = run("backup.sh", "--env-file", str(env_file), "--dir", str(tmp_path / "b"))
    assert result.returncode != 0
    assert list((tmp_path / "b").glob("*")) == []  # no partial file left behind
    env_file.write_text("DATABASE_URL=postgres://root@127.0.0.1:1/nowhere\n")
    result = run("backup.sh", "--env-file", str(env_file), "--dir", str(tmp_path / "b"))
    assert result.returncode != 0


def fake_systemctl(directory: Path, active_unit: str) -> Path:
    """A systemctl whose ``is-active --quiet UNIT`` says only ``active_unit`` runs."""
    directory.mkdir()
    script = directory / "systemctl"
    script.write_text(f'#!/bin/sh\n[ "$1 $2 $3" = "is-active --quiet {active_unit}" ]\n')
    script.chmod(0o755)
    return directory


def test_force_restore_refuses_while_tds_core_uses_the_database(scratch_db, tmp_path):
    target = scratch_db[0]
    psql(target, "CREATE TABLE products (id int); INSERT INTO products VALUES (1), (2)")
    dump = tmp_path / "products.dump"
    subprocess.run(
        ["pg_dump", "-Fc", "-h", PG["host"], "-U", PG["user"], "-f", str(dump), target],
        check=True,
    )
    psql(target, "INSERT INTO products VALUES (3)")
    env_file = tmp_path / "env"
    env_file.write_text(f"DATABASE_URL={url(target)}\n")
    restore = ("restore.sh", "--env-file", str(env_file), "--dbname", target, "--force", str(dump))

    # The worker's unit runs on this host.
    stub = fake_systemctl(tmp_path / "bin", "tds-core-worker.service")
    refused = run(*restore, path_first=stub)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "restore.sh: tds-core-worker.service is running; stop TDS Core first: systemctl stop "
        "tds-core-watchdog.timer tds-core-worker.service tds-core-api.service "
        "tds-core-api.socket (and the worker on every other host)"
    ]
    assert psql(target, "SELECT count(*) FROM products") == "3"

    # No unit here, but a process (an API, a worker on another host) holds a connection.
    with psycopg.connect(host=PG["host"], user=PG["user"], dbname=target):
        refused = run(*restore)
        assert refused.returncode == 1
        assert refused.stderr.startswith(
            f"restore.sh: {target} is in use (1 connections from 127.0.0.1); stop TDS Core first"
        )
    assert psql(target, "SELECT count(*) FROM products") == "3"

    forced = run(*restore)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert psql(target, "SELECT count(*) FROM products") == "2"
