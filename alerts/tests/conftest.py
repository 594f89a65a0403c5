from __future__ import annotations

import pytest

from alerts import channels
from alerts.tests.servers import SlackStub, SmtpStub


@pytest.fixture(autouse=True)
def _alert_settings(settings, monkeypatch):
    """Contract defaults, no destinations unless a test turns one on, no retry pauses."""
    settings.ALERT_SLACK_ENABLED = False
    settings.ALERT_EMAIL_ENABLED = False
    settings.ALERT_SLACK_WEBHOOK_URL = None
    settings.EMAIL_URL = None
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_PENDING_WARNING, settings.ALERT_PENDING_CRITICAL = 500, 1000
    settings.ALERT_DLQ_WARNING, settings.ALERT_DLQ_CRITICAL = 50, 100
    settings.METRICS_ALLOWED_IPS = frozenset()
    monkeypatch.setattr(channels, "RETRY_PAUSE_SECONDS", 0)


@pytest.fixture
def slack(settings):
    stub = SlackStub().start()
    settings.ALERT_SLACK_ENABLED = True
    settings.ALERT_SLACK_WEBHOOK_URL = stub.url
    yield stub
    stub.stop()


@pytest.fixture
def smtp(settings):
    stub = SmtpStub().start()
    settings.ALERT_EMAIL_ENABLED = True
    settings.EMAIL_URL = f"smtp://127.0.0.1:{stub.port}"
    settings.ALERT_EMAIL_TO = ["ops@example.com", "oncall@example.com"]
    settings.ALERT_EMAIL_FROM = "tds-core@example.com"
    yield stub
    stub.stop()
