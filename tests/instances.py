"""Private PostgreSQL, PgBouncer and Redis servers that a fault test or a benchmark may break.

The machine's own servers are shared; these run on free ports from a scratch directory, so
stopping, restarting or killing them touches nothing else. Standard library only, like
``tests.processes``: the benchmarks use them too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.processes import free_port, wait_until

PG_BIN = Path(os.environ.get("TDS_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # initdb and postgres refuse to run as root


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        args = ["runuser", "-u", PG_USER, "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


class PrivatePostgres:
    """A PostgreSQL cluster of its own: ``start``, ``stop``, ``restart``, ``crash``."""

    def __init__(self, name: str = "tds") -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"tds-pg-{name}-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, PG_USER)
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E",
             "UTF8", "--locale=C.UTF-8"],
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                "fsync = off\nfull_page_writes = off\n"  # a test cluster: speed, not crash safety
            )

    def url(self, database: str = "tds") -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args])

    def start(self) -> None:
        self._ctl("start", "-w", "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-t", "60", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._ctl("restart", "-w", "-t", "60", "-m", mode)

    def crash(self) -> None:
        """SIGKILL the postmaster, as a power cut would look to the clients."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 10)

    def is_running(self) -> bool:
        pidfile = self.data / "postmaster.pid"
        return pidfile.exists() and _alive(int(pidfile.read_text().split()[0]))

    def psql(self, sql: str, database: str = "tds") -> str:
        """Run SQL as the superuser; returns psql's unaligned output."""
        return _as_postgres(
            [str(PG_BIN.parent / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             PG_USER, "-d", database, "-XAtqc", sql],
        ).stdout.strip()  # fmt: skip

    def create_database(self, database: str = "tds") -> str:
        self.psql(f"CREATE DATABASE {database}", database="postgres")
        return self.url(database)

    def destroy(self) -> None:
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivatePgBouncer:
    """A PgBouncer of its own in front of a ``PrivatePostgres``, in transaction pooling.

    ``pool_size`` server connections per database and user at most: a small pool makes the
    clients share server connections, as production's many processes do.
    """

    def __init__(self, postgres: PrivatePostgres, pool_size: int) -> None:
        self.port = free_port()
        self.pool_size = pool_size
        self.root = Path(tempfile.mkdtemp(prefix="tds-pgbouncer-"))
        self.pidfile = self.root / "pgbouncer.pid"
        self.config = self.root / "pgbouncer.ini"
        (self.root / "users.txt").write_text(f'"{PG_USER}" ""\n')  # trust still needs the name
        self.config.write_text(
            f"[databases]\n* = host=127.0.0.1 port={postgres.port}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir = {self.root}\nauth_type = trust\n"
            f"auth_file = {self.root / 'users.txt'}\nadmin_users = {PG_USER}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\n"
            f"max_client_conn = 500\nlogfile = {self.root / 'pgbouncer.log'}\n"
            f"pidfile = {self.pidfile}\n"
        )
        if os.geteuid() == 0:
            shutil.chown(self.root, PG_USER)

    def url(self, database: str) -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        _as_postgres(["pgbouncer", "--daemon", str(self.config)])  # pgbouncer refuses root
        wait_until(lambda: self.is_running() and _listens(self.port), 10)

    def is_running(self) -> bool:
        return self.pidfile.exists() and _alive(int(self.pidfile.read_text()))

    def clients(self) -> list[dict[str, str]]:
        """The admin console's ``SHOW CLIENTS``: one row per client, e.g. its ``state``."""
        lines = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "pgbouncer",
             "-XAqc", "SHOW CLIENTS", "--pset=footer=off"],
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()  # fmt: skip
        names = lines[0].split("|")
        return [dict(zip(names, line.split("|"), strict=True)) for line in lines[1:]]

    def stop(self) -> None:
        if self.is_running():
            pid = int(self.pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not _alive(pid), 10)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A Redis server of its own, keeping nothing on disk: ``start``, ``kill``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tds-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=(self.root / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._answers, 10)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
