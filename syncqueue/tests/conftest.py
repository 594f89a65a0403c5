from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-pass-123")


@pytest.fixture
def plain_user(db):
    return get_user_model().objects.create_user("someone", "someone@example.com", "pw-123456")


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
    return Token.objects.create(user=staff).key


@pytest.fixture
def plain_token(plain_user):
    return Token.objects.create(user=plain_user).key
