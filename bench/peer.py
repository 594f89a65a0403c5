"""The seed stack (FastAPI + uvicorn + asyncpg, ``../shared/bench/peers/``) as a live peer.

Benchmarks measure TDS Core beside it in the same run: absolute figures move by ±50 %
between machines of the same kind (and on a shared one, between minutes); ratios do not.
The peer's files are used as they are: its app, its schema and its wrk script and template.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import benchlib

PEER_DIR = Path(
    os.environ.get("BENCH_PEER_DIR", benchlib.ROOT.parent / "shared" / "bench" / "peers")
).resolve()
# The peer README's pins: the stack as the seed deployed it.
PEER_PACKAGES = (
    "fastapi==0.165.0",
    "uvicorn==0.54.0",
    "uvloop==0.23.0",
    "httptools==0.9.0",
    "asyncpg==0.32.0",
)
LUA = PEER_DIR / "zoho_invoice.lua"
TEMPLATE = PEER_DIR / "invoice_template.json"
PATH = "/webhooks/zoho/invoices"  # the peer's route has no trailing slash; TDS Core takes both


def ensure_venv(venv: Path) -> None:
    """Create the peer's venv with the README's pins unless it is there already."""
    if (venv / "bin" / "uvicorn").exists():
        return
    python = os.environ.get("BENCH_PEER_PYTHON", "python3.11")
    benchlib.log(f"creating the peer's venv in {venv}")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True)


def create_database(name: str) -> str:
    """A fresh database with the peer's own schema (fastapi_schema.sql)."""
    url = benchlib.create_database(name, exact=True)
    with benchlib.connect(url) as conn:
        conn.execute((PEER_DIR / "fastapi_schema.sql").read_text())
    return url


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def uvicorn(venv: Path, database_url: str, token: str, workers: int, workdir: Path):
    """The peer, as its README starts it; yields (base URL, process)."""
    port = benchlib.free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BENCH_DSN": database_url.replace("postgres://", "postgresql://", 1),
        "WEBHOOK_TOKEN": token,
    }
    process = benchlib.Process(
        [str(venv / "bin" / "uvicorn"), "fastapi_inbox:app", "--workers", str(workers),
         "--port", str(port), "--no-access-log", "--app-dir", str(PEER_DIR)],
        env, workdir / f"peer-{port}.log",
    )  # fmt: skip
    try:
        benchlib.wait_until(lambda: _listening(port), 60, process.tail)
        benchlib.wait_until(lambda: len(process.children()) >= workers, 30, process.tail)
        time.sleep(1)  # each worker opens its asyncpg pool after it starts listening
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop()


def wrk(base: str, connections: int, seconds: int, run_id: str, token: str) -> dict:
    """The peer's wrk script against ``base``: requests, 2xx/s, p50/p99, errors."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-s", str(LUA), f"{base}{PATH}", "--", str(TEMPLATE), run_id, token],
        capture_output=True, text=True, check=True, cwd=PEER_DIR,
    ).stdout  # fmt: skip
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not done:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    requests = int(done.group(1))
    seconds_taken = float(done.group(2)) * (1 if done.group(3) == "s" else 0.001)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    failed = int(non2xx.group(1)) if non2xx else 0
    return {
        "requests": requests,
        "seconds": seconds_taken,
        "ok_per_s": (requests - failed) / seconds_taken,
        "ok": requests - failed,
        "errors": failed + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
        "p50_ms": _percentile_ms(out, "50%"),
        "p99_ms": _percentile_ms(out, "99%"),
    }


def _percentile_ms(out: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not match:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale
