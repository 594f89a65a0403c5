"""The webhook body, read whole and never past ``WEBHOOK_MAX_BODY_BYTES``.

A body sent with ``Content-Length`` is refused (413) before a byte of it is read. A body
sent ``Transfer-Encoding: chunked`` has no length: Django sees ``CONTENT_LENGTH`` missing
and reads nothing, so the webhook would be judged on an empty body. Such a body is read
from the server's stream instead, at most one byte past the limit, when the server ends
that stream with the body (``wsgi.input_terminated``, as gunicorn does); a server that
does not get a 411 asking for a length, since reading on could block or run into the next
request on the connection.
"""

from __future__ import annotations

from django.http import HttpRequest
from gunicorn.http.errors import ParseException


class BodyRefused(Exception):
    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The whole body, or BodyRefused (400, 411 or 413)."""
    meta = request.META
    if _is_chunked(meta.get("HTTP_TRANSFER_ENCODING", "")):
        return _read_chunked(meta, limit)
    length = content_length(meta.get("CONTENT_LENGTH"))
    if length is None:
        raise BodyRefused(400, "invalid Content-Length")
    if length > limit:
        raise too_large(limit)
    return request.body


def _is_chunked(transfer_encoding: str) -> bool:
    return "chunked" in (coding.strip().lower() for coding in transfer_encoding.split(","))


def _read_chunked(meta: dict, limit: int) -> bytes:
    if not meta.get("wsgi.input_terminated"):
        raise BodyRefused(411, "send the body with a Content-Length")
    try:
        body = meta["wsgi.input"].read(limit + 1)
    except (OSError, ParseException):  # a malformed or cut-off chunked stream
        raise BodyRefused(400, "the chunked body could not be read") from None
    if len(body) > limit:
        raise too_large(limit)
    return body


def too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, f"body larger than {limit} bytes")


def content_length(value: str | None) -> int | None:
    if not value:
        return 0
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None
