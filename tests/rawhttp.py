"""HTTP/1.1 over a plain socket, for requests no client library will send as they are.

Chunked bodies, NUL bytes and raw latin-1 in a request line or a header: httpx and Django's
test client encode or refuse these, so tests write the bytes themselves.
"""

from __future__ import annotations

import json
import socket
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


def request_bytes(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    """A request message exactly as given: nothing is encoded, counted or added but Host."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in [*headers, (b"Connection", b"close")]]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    """``body`` in Transfer-Encoding: chunked framing, ``size`` bytes a chunk."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return framed + b"0\r\n\r\n"


def send(base_url: str, message: bytes, timeout: float = 20) -> RawResponse:
    """Send ``message`` to the server at ``base_url`` and read its whole answer."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        # The server may answer without reading everything (a 413): read that answer.
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(message)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawResponse(int(status_line.split()[1]), headers, body)


def _unchunk(framed: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, rest = framed.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body += rest[:size]
        framed = rest[size + 2 :]
