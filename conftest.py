"""Shared test fixtures: signed webhook requests, fixture payloads, live processes."""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.support import FIXTURES


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    """Known secrets for every test; no drain dispatch threads in-process."""
    settings.ZOHO_WEBHOOK_SECRETS = ("TdsCoreWebhook2025Secret", "RotatedSecret2026abc")
    settings.WEBHOOK_TOKEN = "test-shared-token-123"
    settings.WEBHOOK_ALLOW_UNSIGNED = False
    settings.WEBHOOK_RATE_LIMIT = "100000/s"
    settings.DISPATCH_DRAINS = False
    settings.ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
    settings.SECRET_VALUES = (*settings.ZOHO_WEBHOOK_SECRETS, settings.WEBHOOK_TOKEN)


@pytest.fixture
def fixture_payload():
    def load(name: str) -> dict:
        return json.loads((FIXTURES / f"{name}.json").read_text())

    return load


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    yield
    with contextlib.suppress(Exception):  # the cache table may be gone with its database
        cache.clear()


def pytest_collection_modifyitems(items):
    # Put slow end-to-end tests last so that quick failures show first.
    items.sort(key=lambda item: 1 if item.get_closest_marker("e2e") else 0)


# The dashboard's callers, shared by the apps' API tests (syncqueue's own conftest makes
# its operator a superuser, for the admin actions).
@pytest.fixture
def live_worker(db):
    from tests.factories import WorkerHeartbeatFactory

    return WorkerHeartbeatFactory()


@pytest.fixture
def staff(db):
    from tests.factories import UserFactory

    return UserFactory(username="operator", staff=True)


@pytest.fixture
def staff_token(staff):
    from tests.factories import TokenFactory

    return TokenFactory(user=staff).key


@pytest.fixture
def plain_user(db):
    from tests.factories import UserFactory

    return UserFactory(username="clerk")


@pytest.fixture
def plain_token(plain_user):
    from tests.factories import TokenFactory

    return TokenFactory(user=plain_user).key


@pytest.fixture
def api(staff_token):
    """A DRF client with a staff token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token}")
    return client
