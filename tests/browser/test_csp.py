"""The Content-Security-Policy in a real browser: the admin (its front page with the SVG
chart, a changelist) and Swagger UI at /api/docs/ work under it without one violation."""

from __future__ import annotations

import re

import pytest

from tests.factories import QueueEntryFactory, SyncLogFactory, UserFactory
from tests.live import live_api

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "csp-console-pass-2025"
# Every violation the page reports, whether or not Chromium also logs it.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def directives(policy: str) -> dict[str, str]:
    """``"a x; b y"`` -> ``{"a": "x", "b": "y"}`` (django-csp's order is not fixed)."""
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_admin_and_api_docs_load_without_a_csp_violation(tmp_path, browser_page):
    UserFactory(username="ops", superuser=True, password=PASSWORD)
    SyncLogFactory(entry=QueueEntryFactory(completed=True, record_id="charted"))  # a bar to draw
    page = browser_page
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)

    with live_api(tmp_path, ALLOWED_HOSTS="127.0.0.1,localhost") as base:
        response = page.goto(f"{base}/admin/login/?next=/admin/")
        policy = directives(response.headers["content-security-policy"])
        assert (policy["script-src"], policy["style-src"]) == ("'self'", "'self'")
        assert "unsafe" not in str(policy)
        page.fill("input[name=username]", "ops")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit]")

        page.wait_for_selector("#tds-throughput")
        assert page.locator('#tds-throughput rect.applied[height="140"]').count() == 1
        # dashboard.css, a file under style-src 'self', is applied.
        cards = page.locator("#tds-queue-by-status")
        assert cards.evaluate("e => getComputedStyle(e).display") == "flex"
        assert page.evaluate("window.cspViolations") == []

        page.goto(f"{base}/admin/syncqueue/queueentry/")
        assert page.locator("#result_list tbody tr").count() == 1
        assert page.evaluate("window.cspViolations") == []

        response = page.goto(f"{base}/api/docs/")
        style = directives(response.headers["content-security-policy"])["style-src"]
        assert re.fullmatch(r"'self' 'nonce-[A-Za-z0-9+/=_-]+'", style)
        page.wait_for_selector(".opblock-summary-path")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/dashboard/queue-stats" in paths
        # Swagger UI's inline <style>, admitted by its nonce, is applied.
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
        assert page.evaluate("window.cspViolations") == []
        assert console == []

        # The listeners do see a violation: an inline script is refused and reported.
        page.evaluate(
            """() => { const s = document.createElement("script");
            s.textContent = "window.inlineRan = true"; document.head.append(s); }"""
        )
        page.wait_for_function("window.cspViolations.length > 0")
        assert page.evaluate("window.inlineRan") is None
        assert page.evaluate("window.cspViolations") == ["script-src-elem inline"]
        assert len(console) == 1 and "script-src" in console[0]
