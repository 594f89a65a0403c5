"""Property: random bodies, headers and signatures never give a 5xx and never store
anything unauthenticated."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.models import InboxEvent
from syncqueue.models import QueueEntry
from tests.support import SECRET, TOKEN, signed_post

ENTITY_PATHS = ["", "invoices/", "contacts", "products/", "widgets/", "credit-notes"]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "text/plain",
    "",
    "multipart/form-data; boundary=x",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["invoice", "item", "contact", "bill", "x"]),
        st.dictionaries(
            st.sampled_from(["invoice_id", "item_id", "contact_id", "contact_type", "total"]),
            st.one_of(st.text(max_size=10), st.integers(), st.none()),
            max_size=4,
        ),
        max_size=2,
    ).map(lambda v: json.dumps(v).encode()),
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@pytest.mark.django_db
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(ENTITY_PATHS),
    body=bodies,
    content_type=st.sampled_from(CONTENT_TYPES),
    signature=st.one_of(st.none(), header_values, st.just("valid")),
    event=st.one_of(st.none(), header_values),
    method=st.sampled_from(["post", "put", "delete"]),
    query=st.sampled_from(["", "operation=delete", "operation=bogus", "token=wrong", "a=%ZZ"]),
)
def test_random_requests_never_5xx_and_unauthenticated_store_nothing(
    client, path, body, content_type, signature, event, method, query
):
    headers = {"X-Zoho-Event": event} if event is not None else {}
    if signature not in (None, "valid"):
        headers["X-Zoho-Webhook-Signature"] = signature
    sign_it = signature == "valid"
    if sign_it and not _is_utf8(body):  # Zoho cannot sign such a body; the token can vouch
        headers["X-TDS-Token"], sign_it = TOKEN, False
    before = InboxEvent.objects.count(), QueueEntry.objects.count()
    response = signed_post(
        client,
        f"/webhooks/zoho/{path}",
        body,
        content_type=content_type,
        query=query,
        secret=SECRET if sign_it else None,
        headers=headers,
        method=method,
    )
    assert response.status_code < 500
    assert "application/json" in response["Content-Type"]
    after = InboxEvent.objects.count(), QueueEntry.objects.count()
    if response.status_code in (401, 404, 413, 415):
        assert after == before
    if signature != "valid":
        assert response.status_code in (401, 404, 415)
        assert after == before
    if response.status_code == 202:
        assert after == (before[0] + 1, before[1] + 1)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
