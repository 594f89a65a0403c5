"""The WSGI application: webhooks skip the middleware only the console and pages need."""

from __future__ import annotations

import io

import pytest

from tds_site.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)  # the handlers close connections


def call(method: str, path: str, body: bytes = b"") -> tuple[str, dict[str, str]]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=dict(headers))

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8001",
    }
    response = application(environ, start_response)
    b"".join(response)
    response.close()
    return answer["status"], answer["headers"]


def test_a_webhook_runs_through_the_webhook_middleware_only():
    status, headers = call("POST", "/webhooks/zoho/invoices/", b'{"invoice": {}}')
    assert status.startswith("401")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Request-ID"]  # RequestIdMiddleware
    assert headers["Referrer-Policy"] == "same-origin"  # SecurityMiddleware
    assert "X-Frame-Options" not in headers  # no clickjacking, session or CSRF layers


def test_everything_else_runs_through_the_full_middleware():
    status, headers = call("GET", "/admin/login/")
    assert status.startswith("200")
    assert headers["X-Request-ID"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in headers.get("Set-Cookie", "")


def test_only_the_full_stack_runs_the_login_lockout(monkeypatch):
    from axes.middleware import AxesMiddleware

    seen: list[str] = []
    original = AxesMiddleware.__call__

    def counting(self, request):
        seen.append(request.path)
        return original(self, request)

    monkeypatch.setattr(AxesMiddleware, "__call__", counting)
    assert call("POST", "/webhooks/zoho/invoices/", b'{"invoice": {}}')[0].startswith("401")
    assert call("GET", "/admin/login/")[0].startswith("200")
    assert seen == ["/admin/login/"]
