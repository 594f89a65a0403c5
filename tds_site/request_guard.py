"""Refuse, with a 400 and a JSON reason, a URL that no view could use safely.

PostgreSQL cannot hold or compare text with a NUL character, so a ``%00`` that reaches a
filter (the dashboard's, the admin's search) becomes a database error, a 500. Django also
decodes a query string leniently (invalid UTF-8 turns into U+FFFD), which would let bytes
nobody sent match or not match. Rejecting such URLs once, before any view, keeps every
dashboard, admin and metrics endpoint from having to know. Webhooks do not pass through
here: their query string is signed, so an authentic one is kept, readable, for operators
(``inbox.services``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse, JsonResponse

from tds_site.handlers import WEBHOOK_PATH_PREFIX


class RejectUnusableUrlMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # In production webhooks never come here (tds_site.handlers); Django's test client
        # runs this list for every path, and must answer webhooks as production does.
        if request.path_info.startswith(WEBHOOK_PATH_PREFIX):
            return self.get_response(request)
        problem = url_problem(request.path_info, request.META.get("QUERY_STRING", ""))
        if problem:
            return JsonResponse({"error": problem}, status=400)
        return self.get_response(request)


def url_problem(path: str, query_string: str) -> str | None:
    """Why this path and raw WSGI query string cannot be served, or None."""
    if "\x00" in path:
        return "the path holds a NUL character"
    try:
        # WSGI hands the raw bytes over as latin-1 text; strict UTF-8 refuses invalid
        # sequences, encoded lone surrogates among them, raw or percent-encoded.
        text = query_string.encode("latin-1").decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeError:
        return "the query string is not valid UTF-8"
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        return "the query string holds a NUL character"
    return None
