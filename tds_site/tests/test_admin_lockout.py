"""Admin login brute-force protection (django-axes). That webhooks skip it: test_handlers."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-2025"


@pytest.fixture
def operator():
    return UserFactory(username="ops", superuser=True, password=PASSWORD)


def log_in(client: Client, password: str, **extra: str) -> int:
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "ops", "password": password}, **extra
    )
    return response.status_code


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_sixth_attempt_is_refused_even_with_the_right_password(operator):
    client = Client(REMOTE_ADDR="198.51.100.7")
    assert [log_in(client, "wrong") for _ in range(5)] == [200, 200, 200, 200, 429]
    assert log_in(client, PASSWORD) == 429
    assert not logged_in(client)

    # Keyed on username and address: the operator at another address still gets in.
    elsewhere = Client(REMOTE_ADDR="198.51.100.8")
    assert log_in(elsewhere, PASSWORD) == 302
    assert logged_in(elsewhere)


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_out(operator, settings):
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    attacker = Client(**proxy, HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert [log_in(attacker, "wrong") for _ in range(5)][-1] == 429
    assert log_in(attacker, PASSWORD) == 429

    # Another client through the same nginx is not the attacker.
    operator_client = Client(**proxy, HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert log_in(operator_client, PASSWORD) == 302


def test_a_success_before_the_limit_starts_the_count_again(operator):
    client = Client(REMOTE_ADDR="198.51.100.9")
    assert [log_in(client, "wrong") for _ in range(4)] == [200] * 4
    assert log_in(client, PASSWORD) == 302
    client.logout()
    assert [log_in(client, "wrong") for _ in range(4)] == [200] * 4
