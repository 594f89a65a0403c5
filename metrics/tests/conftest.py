from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_allowed_addresses(settings):
    """/metrics opens to credentials only, unless a test lists an address."""
    settings.METRICS_ALLOWED_IPS = frozenset()
