from __future__ import annotations

import pytest

from tests.factories import TokenFactory, UserFactory, WorkerHeartbeatFactory


@pytest.fixture(autouse=True)
def _no_allowed_addresses(settings):
    """/metrics opens to credentials only, unless a test lists an address."""
    settings.METRICS_ALLOWED_IPS = frozenset()


@pytest.fixture
def live_worker(db):
    return WorkerHeartbeatFactory()


@pytest.fixture
def staff(db):
    return UserFactory(username="operator", staff=True)


@pytest.fixture
def staff_token(staff):
    return TokenFactory(user=staff).key


@pytest.fixture
def plain_user(db):
    return UserFactory(username="clerk")


@pytest.fixture
def plain_token(plain_user):
    return TokenFactory(user=plain_user).key
