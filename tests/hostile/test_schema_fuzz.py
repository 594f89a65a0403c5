"""Schemathesis against the app's own /api/schema/: every operation, webhooks included.

A WSGI wrapper signs each generated webhook request with the test secret, exactly as
sent, so that the authenticated paths (parsing, storing, deduplicating) are fuzzed too;
dashboard operations carry a staff token. Every response must be a non-5xx that conforms
to the document. Deterministic (derandomized) and bounded: a fixed number of examples.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inbox.models import AuthMethod, InboxEvent
from inbox.signatures import sign
from tds_site.handlers import WEBHOOK_PATH_PREFIX
from tds_site.wsgi import application
from tests.support import SECRET

EXAMPLES_PER_OPERATION = 25
WEBHOOK_OPERATIONS = {
    f"{method} /webhooks/zoho/{entity}"
    for method in ("POST", "PUT", "DELETE")
    for entity in ("", "{entity}/")
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def sign_webhooks(app: Callable) -> Callable:
    """``app``, with every webhook request signed as Zoho signs: query and body as sent."""

    def signed(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PATH_PREFIX):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            query, content_type = environ.get("QUERY_STRING", ""), environ.get("CONTENT_TYPE", "")
            try:
                signature = sign(SECRET, query, content_type, body)
            except UnicodeDecodeError:
                signature = ""  # Zoho signs UTF-8 text only: such a body stays unsigned
            environ["HTTP_X_ZOHO_WEBHOOK_SIGNATURE"] = signature
        return app(environ, start_response)

    return signed


@pytest.fixture
def staff_headers(staff_token: str) -> dict[str, str]:
    return {"Authorization": f"Token {staff_token}"}


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Calling the WSGI app directly, as Django's test client does: the handler must not
    close the test's database connection (and its transaction) after each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db, in_test_transaction, staff_headers):
    app = sign_webhooks(application)
    return schemathesis.openapi.from_wsgi("/api/schema/", app, headers=staff_headers)


def test_no_operation_answers_a_5xx_or_off_the_document(api_schema, staff_headers):
    fuzzed = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        fuzz(operation, staff_headers)
        fuzzed.append(operation.label)
    assert set(fuzzed) >= WEBHOOK_OPERATIONS
    assert len(fuzzed) == len(set(fuzzed)) >= len(WEBHOOK_OPERATIONS) + 6
    # The signing wrapper works: generated webhooks got past authentication and were kept.
    assert InboxEvent.objects.filter(auth_method=AuthMethod.SIGNATURE).exists()


def fuzz(operation, headers: dict[str, str]) -> None:
    """Up to EXAMPLES_PER_OPERATION requests, valid and invalid, the same ones every run."""
    cases = st.one_of(operation.as_strategy(mode) for mode in GenerationMode)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def one_request(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    one_request()
