"""CONTRACT §3/§6: a hostile query string or path is a 400 with a JSON reason, never a 5xx."""

from __future__ import annotations

import pytest

from tests.factories import DeadLetterFactory, InboxEventFactory

pytestmark = pytest.mark.django_db

HOSTILE_QUERIES = {
    "nul": "entity=a%00b",
    "nul in a key": "ent%00ity=x",
    "lone surrogate": "entity=%ED%A0%80",
    "invalid utf-8": "entity=%FF%FE",
    "truncated utf-8": "entity=%C3",
}
DASHBOARD_GETS = (
    "/dashboard/dead-letters",
    "/dashboard/queue-stats",
    "/dashboard/alerts",
    "/dashboard/metrics",
    "/api/schema/",
)


@pytest.mark.parametrize("path", DASHBOARD_GETS)
@pytest.mark.parametrize("query", HOSTILE_QUERIES.values(), ids=HOSTILE_QUERIES.keys())
def test_a_hostile_dashboard_filter_is_a_400_with_a_reason(client, staff_token, path, query):
    response = client.get(f"{path}?{query}", HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "query string" in response.json()["error"]


def test_the_dead_letter_filter_still_works(client, staff_token):
    dead = DeadLetterFactory()
    response = client.get(
        f"/dashboard/dead-letters?entity={dead.entity}", HTTP_AUTHORIZATION=f"Token {staff_token}"
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [dead.pk]


def test_a_nul_in_a_dashboard_path_is_a_400(client, staff_token):
    response = client.post(
        "/dashboard/dead-letters/1%00/replay", HTTP_AUTHORIZATION=f"Token {staff_token}"
    )
    assert response.status_code == 400
    assert "path" in response.json()["error"]


@pytest.mark.parametrize("text", ["a%00b", "%ED%A0%80", "%FF"])
def test_the_admin_search_refuses_hostile_text_with_a_400(admin_client, text):
    response = admin_client.get(f"/admin/inbox/inboxevent/?q={text}")
    assert response.status_code == 400


def test_the_admin_search_still_searches(admin_client):
    invoice = InboxEventFactory(entity="invoices")  # its body is {"invoice": {...}}
    InboxEventFactory(entity="products")
    response = admin_client.get("/admin/inbox/inboxevent/?q=invoice")
    assert response.status_code == 200
    assert [event.pk for event in response.context["cl"].result_list] == [invoice.pk]
