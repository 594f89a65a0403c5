"""SENTRY_DSN: errors go to Sentry, scrubbed of secrets by the code that scrubs the logs.

A real process (Django started from the environment, as gunicorn and qcluster start it)
reports to a local HTTP server standing in for Sentry; what arrives is read whole.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tds_site.sentry import scrub
from tests.live import process_env
from tests.processes import ROOT

TOKEN = "sentry-test-token-998877"
SIGNING = "sentry-test-signing-secret-1"


@pytest.fixture
def sentry() -> Iterator[tuple[str, list[bytes]]]:
    """A Sentry stand-in: its DSN, and the bodies posted to it (decompressed)."""
    received: list[bytes] = []

    class Envelopes(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            received.append(body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://publickey12345@127.0.0.1:{server.server_address[1]}/1", received
    finally:
        server.shutdown()


REPORTER = """
import logging, django, sentry_sdk
django.setup()
from django.conf import settings
try:
    raise RuntimeError(f"the ERP refused token {settings.WEBHOOK_TOKEN}")
except RuntimeError:
    logging.getLogger("tds.worker").exception(
        "apply failed, signing with %s", settings.ZOHO_WEBHOOK_SECRETS[0]
    )
sentry_sdk.flush(10)
"""


def test_an_error_reaches_sentry_without_its_secrets(sentry):
    dsn, received = sentry
    env = process_env(SENTRY_DSN=dsn, WEBHOOK_TOKEN=TOKEN, ZOHO_WEBHOOK_SECRETS=SIGNING)
    done = subprocess.run(
        [sys.executable, "-c", REPORTER], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    sent = b"".join(received).decode()
    assert "apply failed, signing with ***" in sent
    assert "the ERP refused token ***" in sent and "RuntimeError" in sent
    assert TOKEN not in sent and SIGNING not in sent
    assert "publickey12345" not in sent.split("\n", 1)[1]  # the DSN's key: only in the header
    assert TOKEN not in done.stderr.decode()  # nor in the log lines


def test_scrub_reaches_every_nested_value(settings):
    settings.SECRET_VALUES = (TOKEN,)
    event = {
        "message": f"x {TOKEN}",
        "extra": {"url": f"/metrics?token={TOKEN}&a=1", "list": [TOKEN, 3]},
        "breadcrumbs": {"values": [{"message": f"sent {TOKEN}"}]},
    }
    assert scrub(event) == {
        "message": "x ***",
        "extra": {"url": "/metrics?token=***&a=1", "list": ["***", 3]},
        "breadcrumbs": {"values": [{"message": "sent ***"}]},
    }
