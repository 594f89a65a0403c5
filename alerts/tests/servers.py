"""Real local destinations for notification tests: an HTTP server and an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on (bound, read, closed): also a destination that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlackStub:
    """Receives Slack webhook POSTs; answers with ``statuses`` in turn, then 200."""

    path: str = "/services/T0TDS/B0ALERT/Zx8SlackSecretPart"
    statuses: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self) -> SlackStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                stub.requests.append((self.path, dict(self.headers)))
                status = stub.statuses.pop(0) if stub.statuses else 200
                if status == 200:
                    stub.received.append(json.loads(body))
                    reply = b"ok"
                else:
                    # Echo the path, as some proxies do: the secret must not reach our logs.
                    reply = f"error for {self.path}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode("utf-8"))
        )
        return "250 Message accepted for delivery"


class SmtpStub:
    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[tuple[str, list[str], str]]:
        return self.inbox.messages

    def start(self) -> SmtpStub:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
