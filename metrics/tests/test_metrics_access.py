"""Who may read /metrics and GET /dashboard/metrics (CONTRACT §6): the authorisation matrix."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/metrics", "/dashboard/metrics"]


def served(response, path: str) -> bool:
    """Whether the response is what the endpoint serves, not merely a 200."""
    if path == "/metrics":
        return "\ntds_queue_depth{" in response.content.decode()
    return {"queue", "throughput", "failure_rate", "open_alerts"} <= set(response.json())


@pytest.mark.parametrize("path", ENDPOINTS)
def test_anonymous_is_refused_with_401(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "credentials" in response.json()["detail"]  # DRF's refusal, as on every endpoint


def test_a_refusal_is_json_whatever_the_scraper_accepts(client):
    response = client.get("/metrics", HTTP_ACCEPT="text/plain; version=0.0.4")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_token_is_refused_with_401(client, path):
    response = client.get(path, HTTP_AUTHORIZATION="Token not-a-real-key")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ENDPOINTS)
def test_non_staff_session_is_forbidden(client, plain_user, path):
    client.force_login(plain_user)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ENDPOINTS)
def test_non_staff_token_is_forbidden(client, plain_token, path):
    response = client.get(path, HTTP_AUTHORIZATION=f"Token {plain_token}")
    assert response.status_code == 403


@pytest.mark.parametrize("path", ENDPOINTS)
def test_staff_session_is_let_in(client, staff, path):
    client.force_login(staff)
    response = client.get(path)
    assert response.status_code == 200
    assert served(response, path)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_staff_token_is_let_in(client, staff_token, path):
    response = client.get(path, HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 200
    assert served(response, path)


def test_inactive_staff_token_is_refused(client, staff, staff_token):
    staff.is_active = False
    staff.save()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 401


class TestMetricsAllowedAddresses:
    def test_listed_address_needs_no_credentials(self, client, settings):
        settings.METRICS_ALLOWED_IPS = frozenset({"127.0.0.1"})
        response = client.get("/metrics")
        assert response.status_code == 200
        assert served(response, "/metrics")

    def test_network_ranges_are_understood(self, settings):
        settings.METRICS_ALLOWED_IPS = frozenset({"10.20.0.0/16", "not-an-address"})
        assert Client(REMOTE_ADDR="10.20.3.4").get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="10.21.3.4").get("/metrics").status_code == 401

    def test_forwarded_for_is_believed_only_from_trusted_proxies(self, settings):
        settings.METRICS_ALLOWED_IPS = frozenset({"192.0.2.7"})
        spoofed = Client(REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="192.0.2.7")
        assert spoofed.get("/metrics").status_code == 401
        settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
        proxied = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7")
        assert proxied.get("/metrics").status_code == 200

    def test_a_listed_address_is_not_refused_over_stale_credentials(self, client, settings):
        settings.METRICS_ALLOWED_IPS = frozenset({"127.0.0.1"})
        response = client.get("/metrics", HTTP_AUTHORIZATION="Token revoked-long-ago")
        assert response.status_code == 200
        assert served(response, "/metrics")

    def test_the_allow_list_does_not_open_the_dashboard(self, client, settings):
        settings.METRICS_ALLOWED_IPS = frozenset({"127.0.0.1"})
        assert client.get("/dashboard/metrics").status_code == 401


def test_metrics_only_answers_get(client, staff_token):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 405
