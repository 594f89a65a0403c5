"""The fake Zoho every reconciliation test talks to, with the settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciliation import reconcile as reconcile_module
from reconciliation import zoho_api
from reconciliation.tests.fake_zoho import FakeZoho, FakeZohoServer


@pytest.fixture
def zoho(settings, monkeypatch) -> Iterator[FakeZoho]:
    with FakeZohoServer() as fake:
        for name, value in fake.env().items():
            setattr(settings, name, value)
        # Server errors are retried after a back-off; keep the tests quick (429s still wait).
        monkeypatch.setattr(zoho_api, "SERVER_ERROR_BACKOFF_SECONDS", (0.0,))
        monkeypatch.setattr(reconcile_module.dispatch, "enqueue_drains", fake.drains.append)
        yield fake
