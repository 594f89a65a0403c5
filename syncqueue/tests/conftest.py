from __future__ import annotations

import pytest

from tests.factories import TokenFactory, UserFactory


@pytest.fixture
def staff(db):
    return UserFactory(username="ops", superuser=True)


@pytest.fixture
def plain_user(db):
    return UserFactory(username="someone")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def plain_client(client, plain_user):
    client.force_login(plain_user)
    return client


@pytest.fixture
def staff_token(staff):
    return TokenFactory(user=staff).key


@pytest.fixture
def plain_token(plain_user):
    return TokenFactory(user=plain_user).key
