"""Live processes for the deployment tests: gunicorn started exactly as systemd starts it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
SECRET = "DeployTestSecret2025abc"
PROD_SECRET_KEY = "deploy-test-" + "k" * 30 + secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The pytest-django test database, as a URL for the processes we start."""
    s = connection.settings_dict
    if "sqlite" in s["ENGINE"]:
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """A clean environment: nothing of the developer's database or secrets leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "ZOHO_", "WEBHOOK_", "API_", "ALERT_"))
        and k not in ("ENV", "SECRET_KEY", "REDIS_URL", "FORCE_SCRIPT_NAME", "STATIC_ROOT")
    }
    env.update(
        DATABASE_URL=database_url(),
        ZOHO_WEBHOOK_SECRETS=SECRET,
        WEBHOOK_RATE_LIMIT="100000/s",
        DATABASE_POOL_SIZE="2",
        API_ACCESS_LOG="false",
        API_WORKERS="2",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def production_env(**extra: str) -> dict[str, str]:
    """deploy/env.example's production settings, for a test host."""
    return process_env(
        ENV="production",
        SECRET_KEY=PROD_SECRET_KEY,
        ALLOWED_HOSTS="api.tsh.sale,localhost,127.0.0.1",
        TRUSTED_PROXIES="127.0.0.1",
        FORCE_SCRIPT_NAME="/tds",
        **extra,
    )


def http(method: str, url: str, body: bytes | None = None, headers=None, timeout=10):
    """(status, headers, body) without raising on 4xx/5xx and without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the tests' self-signed certificate
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@dataclass
class LiveProcess:
    process: subprocess.Popen
    log: Path
    url: str = ""
    extra: dict = field(default_factory=dict)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def wait_healthy(url: str, process: LiveProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise AssertionError(f"process exited early:\n{process.output()[-3000:]}")
        try:
            status, _, body = http("GET", url, timeout=2)
            if status == 200 and json.loads(body)["status"] == "ok":
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy:\n{process.output()[-3000:]}")


def start_gunicorn(tmp_path: Path, env: dict[str, str], name: str = "gunicorn", **popen):
    """`gunicorn -c deploy/gunicorn.conf.py tds_site.wsgi`, as in tds-core-api.service."""
    port = int(env.setdefault("API_PORT", str(free_port())))
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        popen.pop("argv", None)
        or [str(VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "tds_site.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **popen,
    )
    live = LiveProcess(process, log, f"http://127.0.0.1:{port}")
    wait_healthy(live.url + "/health", live)
    return live


@pytest.fixture
def live_processes():
    """Collects what a test starts, and stops it all afterwards, whatever happened."""
    started: list[LiveProcess] = []
    yield started
    for live in reversed(started):
        live.stop()
