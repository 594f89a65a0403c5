"""Who may use the alert endpoints (CONTRACT §6): the authorisation matrix."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/dashboard/alerts"),
    ("post", "/dashboard/alerts/{id}/acknowledge"),
]


@pytest.fixture
def alert_id(db):
    return AlertFactory().pk


def call(client: Client, method: str, path: str, alert_id: int, **extra):
    return getattr(client, method)(path.format(id=alert_id), **extra)


def served(response, path: str, alert_id: int) -> bool:
    """Whether the response is what the endpoint serves, not merely a 200."""
    body = response.json()
    if path == "/dashboard/alerts":
        return [row["id"] for row in body] == [alert_id]
    return (body["id"], body["status"]) == (alert_id, "acknowledged")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_is_refused_with_401(client, method, path, alert_id):
    response = call(client, method, path, alert_id)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_wrong_token_is_refused_with_401(client, method, path, alert_id):
    response = call(client, method, path, alert_id, HTTP_AUTHORIZATION="Token not-a-real-key")
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_non_staff_session_is_forbidden(client, plain_user, method, path, alert_id):
    client.force_login(plain_user)
    assert call(client, method, path, alert_id).status_code == 403


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_non_staff_token_is_forbidden(client, plain_token, method, path, alert_id):
    response = call(client, method, path, alert_id, HTTP_AUTHORIZATION=f"Token {plain_token}")
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_staff_session_is_let_in(client, staff, method, path, alert_id):
    client.force_login(staff)
    response = call(client, method, path, alert_id)
    assert response.status_code == 200
    assert served(response, path, alert_id)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_staff_token_is_let_in(client, staff_token, method, path, alert_id):
    response = call(client, method, path, alert_id, HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 200
    assert served(response, path, alert_id)


def test_staff_session_post_needs_the_csrf_token(staff, alert_id):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(f"/dashboard/alerts/{alert_id}/acknowledge").status_code == 403
