"""A local Zoho for the tests: a real HTTP server playing Zoho accounts and the Books API.

It serves ``POST /oauth/v2/token`` and ``GET /books/v3/<list>`` (paged) and
``/books/v3/<list>/<id>``, in Zoho's JSON shapes, and holds the client to Zoho's rules:
``per_page`` at most 200, only the newest access token accepted, and on request 429s with
``Retry-After`` every N calls and access tokens that expire after N calls or T seconds
(401 with Zoho's code 57), so the client has to wait and refresh as it would against Zoho.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from entities.mappings import MAPPINGS
from reconciliation.zoho_api import ZOHO_LISTS

CLIENT_ID = "1000.TESTCLIENTID"
CLIENT_SECRET = "test-client-secret-0123456789"
REFRESH_TOKEN = "1000.test-refresh-token-abcdef"
ORG_ID = "60012345678"
ACCESS_TOKENS = tuple(f"1000.access-token-{n}-{n * 7919:06d}" for n in range(1, 201))
MAX_PER_PAGE = 200
ALL_PATHS = tuple(zoho_list.path for zoho_list in ZOHO_LISTS.values())
LIST_KEYS = {z.path: z.list_key for z in ZOHO_LISTS.values()}
MODULE_KEYS = {z.path: z.module for z in ZOHO_LISTS.values()}
# What a list call leaves out of a record: its lines (the full record has them).
LINE_KEYS = {
    z.path: {m.lines.key for m in MAPPINGS if m.module == z.module and m.lines is not None}
    for z in ZOHO_LISTS.values()
}
UNAUTHORIZED = {"code": 57, "message": "You are not authorized to perform this operation"}

Answer = tuple[int, dict, dict[str, str]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    at: float


@dataclass
class FakeZoho:
    """What the server answers; every request it saw.

    Lists come from ``records`` (sliced into pages by the request's ``page``/``per_page``,
    summaries without lines; a record's GET gives it whole) or, for tests that script each
    page, from ``pages``.
    """

    records: dict[str, list[dict]] = field(default_factory=dict)  # path -> every record
    pages: dict[str, list[list[dict]]] = field(default_factory=dict)  # path -> scripted pages
    details: dict[str, dict] = field(default_factory=dict)  # "invoices/<id>" -> answer
    failing: dict[str, int] = field(default_factory=dict)  # path -> status, always
    broken_pages: dict[str, int] = field(default_factory=dict)  # path -> page that fails
    rate_limited_once: set[str] = field(default_factory=set)
    unauthorized_once: set[str] = field(default_factory=set)
    rate_limit_every: int | None = None  # every Nth API request is a 429
    retry_after: str = "1"
    token_calls: int | None = None  # an access token expires after this many API requests
    token_seconds: float | None = None  # ... or this long after it was issued
    refresh_error: str | None = None
    # A request for which this says True waits until ``release`` is set (``held`` is set
    # when it arrives), so a test can kill the client while it waits for Zoho.
    hold: Callable[[Request], bool] | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    drains: list[int] = field(default_factory=list)  # drain tasks asked for (in-process runs)
    tokens_issued: int = 0
    base_url: str = ""
    _api_count: int = 0
    _token_uses: int = 0
    _token_issued_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def api_requests(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == f"/books/v3/{path}"]

    def books_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/books/v3/")]

    @property
    def token_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/oauth/v2/token"]

    def env(self) -> dict[str, str]:
        """The environment a ``manage.py`` process needs to call this server."""
        return {
            "ZOHO_API_BASE_URL": self.base_url,
            "ZOHO_ACCOUNTS_URL": self.base_url,
            "ZOHO_CLIENT_ID": CLIENT_ID,
            "ZOHO_CLIENT_SECRET": CLIENT_SECRET,
            "ZOHO_REFRESH_TOKEN": REFRESH_TOKEN,
            "ZOHO_ORGANIZATION_ID": ORG_ID,
        }

    def answer(self, request: Request) -> Answer:
        if request.path == "/oauth/v2/token":
            with self._lock:
                return self._token(request)
        if self.hold is not None and self.hold(request):
            self.held.set()
            self.release.wait(60)
        with self._lock:
            self._api_count += 1
            refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        path = request.path.removeprefix("/books/v3/")
        broken = self.broken_pages.get(path)
        if path in self.failing or (broken and request.query.get("page") == str(broken)):
            status = self.failing.get(path, 500)
            return status, {"code": 1, "message": "internal error"}, {}
        if request.query.get("organization_id") != ORG_ID:
            return 400, {"code": 6041, "message": "organization_id"}, {}
        if path in self.details:
            return 200, {"code": 0, **self.details[path]}, {}
        if "/" in path:
            return self._record(path)
        return self._page(path, request)

    def _refusal(self, request: Request) -> Answer | None:
        """An expired or unknown token, or a rate limit; None lets the request through."""
        path = request.path.removeprefix("/books/v3/")
        current = ACCESS_TOKENS[max(self.tokens_issued - 1, 0)]
        if request.headers.get("authorization") != f"Zoho-oauthtoken {current}":
            return 401, UNAUTHORIZED, {}
        self._token_uses += 1
        expired_by_use = self.token_calls is not None and self._token_uses > self.token_calls
        expired_by_age = (
            self.token_seconds is not None
            and time.monotonic() - self._token_issued_at > self.token_seconds
        )
        if expired_by_use or expired_by_age or path in self.unauthorized_once:
            self.unauthorized_once.discard(path)
            return 401, UNAUTHORIZED, {}
        limited = self.rate_limit_every and self._api_count % self.rate_limit_every == 0
        if limited or path in self.rate_limited_once:
            self.rate_limited_once.discard(path)
            headers = {"Retry-After": self.retry_after}
            return 429, {"code": 44, "message": "too many requests"}, headers
        return None

    def _token(self, request: Request) -> Answer:
        expected = {
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "refresh_token",
        }
        if self.refresh_error or request.form != expected:
            return 200, {"error": self.refresh_error or "invalid_client"}, {}
        self.tokens_issued += 1
        self._token_uses, self._token_issued_at = 0, time.monotonic()
        token = ACCESS_TOKENS[self.tokens_issued - 1]
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}, {}

    def _page(self, path: str, request: Request) -> Answer:
        if path not in ALL_PATHS:
            return 404, {"code": 5, "message": "Invalid URL"}, {}
        try:
            number = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", str(MAX_PER_PAGE)))
        except ValueError:
            return 400, {"code": 2, "message": "Invalid value passed for page"}, {}
        if number < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            return 400, {"code": 2, "message": "Invalid value passed for per_page"}, {}
        if path in self.records:
            every = self.records[path]
            chunk = every[(number - 1) * per_page : number * per_page]
            records = [_summary(path, record) for record in chunk]
            has_more = number * per_page < len(every)
        else:
            pages = self.pages.get(path, [[]])
            records = pages[number - 1] if number <= len(pages) else []
            has_more = number < len(pages)
        context = {"page": number, "per_page": per_page, "has_more_page": has_more}
        body = {"code": 0, "message": "success", LIST_KEYS[path]: records}
        return 200, {**body, "page_context": context}, {}

    def _record(self, path: str) -> Answer:
        list_path, _, record_id = path.partition("/")
        module = MODULE_KEYS.get(list_path)
        id_field = f"{module}_id"
        for record in self.records.get(list_path, []):
            if str(record.get(id_field)) == record_id:
                return 200, {"code": 0, "message": "success", module: record}, {}
        return 404, {"code": 1002, "message": f"{module} does not exist."}, {}


def _summary(path: str, record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in LINE_KEYS[path]}


def _handler(zoho: FakeZoho) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length).decode())

        def _serve(self, body: str) -> None:
            url = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=url.path,
                query={k: v[0] for k, v in parse_qs(url.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                form={k: v[0] for k, v in parse_qs(body).items()},
                at=time.monotonic(),
            )
            zoho.requests.append(request)
            status, answer, headers = zoho.answer(request)
            raw = json.dumps(answer, default=float).encode()  # factories read numbers as Decimal
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
            except OSError:
                pass  # the client was killed while it waited: nobody to answer

        def log_message(self, *args) -> None:
            pass

    return Handler


class FakeZohoServer:
    """``FakeZoho`` served on 127.0.0.1 at a free port, in a thread, while in a ``with``."""

    def __init__(self, zoho: FakeZoho | None = None) -> None:
        self.zoho = zoho or FakeZoho()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.zoho))
        self._server.daemon_threads = True
        self.zoho.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    def __enter__(self) -> FakeZoho:
        self._thread.start()
        return self.zoho

    def __exit__(self, *exc_info: object) -> None:
        self.zoho.release.set()
        self._server.shutdown()
        self._server.server_close()
