"""Shared by the benchmarks in bench/: the venv, a throw-away database, real processes.

Each benchmark creates its own PostgreSQL database (``tds_bench_<name>_<pid>``; the prefix is
``BENCH_DB_PREFIX`` when several people share one server), runs
``migrate`` on it, starts gunicorn / qcluster as the tests do (``tests/live.py``), and drops
the database at the end, even after Ctrl-C.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Standard library only, so fine before use_venv; the bench scripts use them as benchlib.*.
from tests.processes import (  # noqa: E402, F401
    LiveProcess,
    answers_health,
    children,
    cpu_seconds,
    descendants,
    free_port,
    tree_cpu_seconds,
    tree_rss_bytes,
    wait_until,
)

VENV = ROOT / ".venv"
PG_BASE = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "tds_bench")
PGBENCH = next(
    (p for p in ("/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench") if Path(p).exists()),
    "pgbench",
)
TOKEN = "bench-shared-token-123456"
SECRET = "TdsCoreWebhook2025Secret"


def use_venv() -> None:
    """Re-exec this script under the repository's .venv (creating it if needed)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not (VENV / "bin" / "python").exists():
        subprocess.run(
            ["bash", "-c", "source bin/_venv.sh && ensure_venv dev"], cwd=ROOT, check=True
        )
    python = str(VENV / "bin" / "python")
    os.execv(python, [python, *sys.argv])


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# -- databases -------------------------------------------------------------------------


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def create_database(name: str, *, exact: bool = False) -> str:
    """Create a fresh database and return its URL; it is dropped at exit.

    ``exact``: ``name`` as given, without the prefix and pid (a peer's fixed database).
    """
    name = name if exact else f"{DB_PREFIX}_{name}_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    atexit.register(drop_database, name)
    return f"{PG_BASE}/{name}"


def drop_database(name: str) -> None:
    try:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as error:  # never hide the figures because of the cleanup
        log(f"could not drop {name}: {error}")


def connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def scalar(url: str, sql: str, params=None):
    with connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


# -- processes -------------------------------------------------------------------------


def process_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "REDIS_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tds_site.settings",
            "DATABASE_URL": database_url,
            "ENV": "test",
            "DEBUG": "false",
            "ZOHO_WEBHOOK_SECRETS": SECRET,
            "WEBHOOK_TOKEN": TOKEN,
            "WEBHOOK_RATE_LIMIT": "1000000/s",
            # At most 10 connections per API process, as the peer's pool has
            # (bench/peers/fastapi_inbox.py): both stacks meet PostgreSQL alike.
            "DATABASE_POOL_SIZE": "2",
            "DATABASE_MAX_OVERFLOW": "8",
            "API_ACCESS_LOG": "false",
            "WORKER_POLL_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(VENV / "bin" / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True
    )


def migrate(database_url: str) -> None:
    env = process_env(database_url)
    manage(env, "migrate", "-v0")


class Process(LiveProcess):
    """A LiveProcess (tests/processes.py) that is stopped when the benchmark exits."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        super().__init__(args, env, log_path)
        _running.append(self)

    def children(self) -> list[int]:
        return children(self.pid)

    def stop(self, timeout: float = 20) -> None:
        super().stop(timeout)
        if self in _running:
            _running.remove(self)

    def tail(self, n: int = 3000) -> str:
        return self.output()[-n:]


_running: list[Process] = []


@atexit.register
def _stop_all() -> None:
    for process in list(_running):
        process.stop(5)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _terminate)


@contextmanager
def gunicorn(env: dict[str, str], workdir: Path, workers: int, extra_args: tuple[str, ...] = ()):
    """``extra_args``: gunicorn options that override deploy/gunicorn.conf.py's."""
    port = free_port()
    env = {**env, "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_WORKERS": str(workers)}
    process = Process(
        [str(VENV / "bin" / "gunicorn"), "-c", "deploy/gunicorn.conf.py", *extra_args],
        env,
        workdir / f"gunicorn-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_health(base), 60, process.tail)
        wait_until(lambda: len(process.children()) >= workers, 30, process.tail)
        yield base, process
    finally:
        process.stop()


def start_qcluster(env: dict[str, str], workdir: Path, name: str = "worker") -> Process:
    return Process(
        [str(VENV / "bin" / "python"), "manage.py", "qcluster"], env, workdir / f"{name}.log"
    )


@contextmanager
def qcluster(env: dict[str, str], workdir: Path, name: str = "worker"):
    process = start_qcluster(env, workdir, name)
    try:
        yield process
    finally:
        process.stop()


# -- py-spy ----------------------------------------------------------------------------


def pyspy_start(
    pids: list[int], seconds: int, workdir: Path, gil: bool = False
) -> list[tuple[subprocess.Popen, Path]]:
    """Sample each pid for ``seconds`` (raw folded stacks); returns handles for pyspy_report.

    ``gil``: only samples of the thread holding the GIL, i.e. where Python CPU time goes
    (the default also counts time spent waiting on sockets, Redis and PostgreSQL).
    """
    exe = VENV / "bin" / "py-spy"
    if not exe.exists():
        log("py-spy not installed (.venv/bin/pip install py-spy): no profile")
        return []
    handles = []
    for pid in pids:
        out = workdir / f"pyspy-{pid}.txt"
        proc = subprocess.Popen(
            [str(exe), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
             "--format", "raw", "--nonblocking", "-o", str(out), *(["--gil"] if gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        handles.append((proc, out))
    return handles


def pyspy_report(handles, title: str, top: int = 15) -> None:
    """Print the top functions by own and by inclusive time, per kind of thread.

    Threads are told apart by their root frame: the process's main thread (gunicorn's
    request loop, django-q2's worker loop) versus background threads (the drain dispatcher).
    """
    kinds: dict[str, tuple[collections.Counter, collections.Counter, list[int]]] = {}
    for proc, out in handles:
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not out.exists():
            continue
        for line in out.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_short(f) for f in stack.split(";")]
            frames = [f for f in frames if f]
            if not frames:
                continue
            kind = "background threads" if "Thread._bootstrap" in frames[0] else "main thread"
            own, inclusive, total = kinds.setdefault(
                kind, (collections.Counter(), collections.Counter(), [0])
            )
            total[0] += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if not kinds:
        print(f"{title}: no samples (py-spy needs ptrace rights)")
        return
    for kind, (own, inclusive, (total,)) in sorted(kinds.items(), key=lambda kv: -kv[1][2][0]):
        print(f"{title} [{kind}]: {total} samples")
        print("  own time (self):")
        for frame, n in own.most_common(top):
            print(f"    {100 * n / total:5.1f}%  {frame}")
        print("  inclusive (frames present in >97% of samples left out):")
        shown = 0
        for frame, n in inclusive.most_common():
            if n / total > 0.97:
                continue
            print(f"    {100 * n / total:5.1f}%  {frame}")
            shown += 1
            if shown == top:
                break


def _short(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/wt-bench/", str(ROOT) + "/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


# -- figures ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def other_load() -> str:
    """Busiest processes right now (the machine is shared with other engineers)."""
    out = subprocess.run(
        ["top", "-b", "-n", "2", "-d", "1", "-o", "%CPU", "-w", "200"], capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    frame = out.split("PID USER")[-1].splitlines()[1:6]
    busy = []
    for line in frame:
        parts = line.split()
        if len(parts) >= 12:
            busy.append(f"{parts[11]}:{parts[8]}%")
    return " ".join(busy)


def as_json(value) -> str:
    return json.dumps(value, default=str)
