"""Deployment-test helpers on top of tests/live.py: production settings, gunicorn started
as systemd starts it (optionally on a handed-over socket), HTTPS without verification."""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import live
from tests.processes import ROOT, LiveProcess, free_port, wait_until
from tests.support import SECRET

__all__ = ["SECRET", "LiveProcess", "free_port"]

DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
PROD_SECRET_KEY = "deploy-test-" + "k" * 30 + secrets.token_hex(16)


def process_env(**extra: str) -> dict[str, str]:
    """tests/live.py's environment, without anything of the developer's that would leak in."""
    env = live.process_env(**extra)
    for name in ("SECRET_KEY", "FORCE_SCRIPT_NAME", "STATIC_ROOT", "TRUSTED_PROXIES"):
        if name not in extra:
            env.pop(name, None)
    return env


def production_env(**extra: str) -> dict[str, str]:
    """deploy/env.example's production settings, for a test host."""
    return process_env(
        ENV="production",
        SECRET_KEY=PROD_SECRET_KEY,
        ALLOWED_HOSTS="api.tsh.sale,localhost,127.0.0.1",
        TRUSTED_PROXIES="127.0.0.1",
        FORCE_SCRIPT_NAME="/tds",
        WEBHOOK_TOKEN="",
        **extra,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http(method: str, url: str, body: bytes | None = None, headers=None, timeout=10):
    """(status, headers, body); no exception for 4xx/5xx, no redirects followed, and the
    tests' self-signed certificate accepted. The headers are looked up by name whatever its
    case, as HTTP has it (uvicorn writes every name in lower case)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def healthy(url: str) -> bool:
    try:
        status, _, body = http("GET", url, timeout=2)
        return status == 200 and json.loads(body)["status"] == "ok"
    except OSError:
        return False


def wait_healthy(url: str, process: LiveProcess, timeout: float = 30) -> None:
    def ready() -> bool:
        assert process.proc.poll() is None, f"exited early:\n{process.output()[-3000:]}"
        return healthy(url)

    wait_until(ready, timeout, lambda: process.output())


def start_gunicorn(tmp_path: Path, env: dict[str, str], name: str = "gunicorn", **popen):
    """`gunicorn -c deploy/gunicorn.conf.py tds_site.wsgi`, as in tds-core-api.service.
    Returns the process, with ``url`` set; waits for /health."""
    port = int(env.setdefault("API_PORT", str(free_port())))
    argv = popen.pop("argv", None) or [
        str(VENV_BIN / "gunicorn"),
        *("-c", "deploy/gunicorn.conf.py", "tds_site.wsgi"),
    ]
    process = LiveProcess(argv, env, tmp_path / f"{name}.log", **popen)
    process.url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process.url + "/health", process)
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture
def live_processes():
    """Collects what a test starts, and stops it all afterwards, whatever happened."""
    started: list[LiveProcess] = []
    yield started
    for process in reversed(started):
        process.stop()
