"""``api_budget``: a warning past 80 % of today's Zoho API budget, critical once it is spent."""

from __future__ import annotations

import pytest

from alerts.models import Alert, Code
from alerts.monitor import run_monitor
from reconciliation.budget import today
from reconciliation.models import ApiUsage

pytestmark = pytest.mark.django_db


def spent(used: int) -> None:
    ApiUsage.objects.update_or_create(day=today(), defaults={"used": used})


def open_alert() -> Alert | None:
    return Alert.objects.filter(code=Code.API_BUDGET).exclude(status="resolved").first()


def test_the_budget_alert_warns_escalates_and_resolves(settings, live_worker):
    settings.ZOHO_API_DAILY_BUDGET = 100
    run_monitor()
    assert open_alert() is None  # nothing spent yet

    spent(80)
    run_monitor()
    assert open_alert() is None  # 80 % reached, not exceeded

    spent(81)
    run_monitor()
    warning = open_alert()
    assert (warning.severity, warning.value, warning.threshold) == ("warning", 81, 80)
    assert warning.message == "81 of 100 Zoho API calls used today, 19 left (threshold 80)"

    spent(100)
    run_monitor()
    run_monitor()
    critical = open_alert()
    assert critical.pk == warning.pk
    assert (critical.severity, critical.value, critical.threshold) == ("critical", 100, 100)
    assert critical.seen_count == 3  # one alert, seen again: not one per run
    assert "used up: 100 of 100 calls today (ZOHO_API_DAILY_BUDGET)" in critical.message

    # A new UTC day (or a larger budget) clears it.
    settings.ZOHO_API_DAILY_BUDGET = 1000
    run_monitor()
    assert open_alert() is None
    assert Alert.objects.get(pk=warning.pk).status == "resolved"
