"""The daily Zoho API budget: one count per UTC day, shared exactly by every process,
validated at start-up, and shown by ``tds_stats``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from reconciliation import budget
from reconciliation.budget import ApiBudgetExhausted, spend_one, usage_today
from reconciliation.models import ApiUsage
from tests.live import process_env
from tests.processes import ROOT


@pytest.mark.django_db
def test_calls_are_counted_per_utc_day_up_to_the_budget(settings):
    settings.ZOHO_API_DAILY_BUDGET = 3
    ApiUsage.objects.create(day=budget.today() - timedelta(days=1), used=3)  # yesterday's
    assert [spend_one() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ApiBudgetExhausted) as stopped:
        spend_one()
    assert stopped.value.usage.used == 3
    assert usage_today().as_dict() == {
        "date": budget.today().isoformat(),
        "used": 3,
        "limit": 3,
        "remaining": 0,
    }
    # A larger budget (set and restarted) lets the same day go on.
    settings.ZOHO_API_DAILY_BUDGET = 4
    assert spend_one() == 4


@pytest.mark.django_db
def test_tds_stats_reports_the_budget(settings):
    settings.ZOHO_API_DAILY_BUDGET = 10
    spend_one()
    spend_one()
    out = StringIO()
    call_command("tds_stats", stdout=out)
    last = out.getvalue().splitlines()[-1]
    assert last == f"zoho api budget {budget.today()} (UTC): used 2 of 10, remaining 8"
    out = StringIO()
    call_command("tds_stats", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["zoho_api_budget"] == {
        "date": budget.today().isoformat(),
        "used": 2,
        "limit": 10,
        "remaining": 8,
    }
    assert "by_status" in figures  # the queue's figures are still all there


@pytest.mark.parametrize("value", ["many", "0", "-5"])
def test_a_bad_budget_stops_start_up_with_one_line(value):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=process_env(DATABASE_URL="sqlite:///:memory:", ZOHO_API_DAILY_BUDGET=value),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("TDS Core configuration error: ZOHO_API_DAILY_BUDGET:")


SPENDER = """
import django, sys
django.setup()
from reconciliation.budget import ApiBudgetExhausted, spend_one
spent = 0
for _ in range(int(sys.argv[1])):
    try:
        spend_one()
    except ApiBudgetExhausted:
        continue
    spent += 1
print(spent)
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's concurrent writers")
def test_several_processes_never_spend_more_than_the_budget_between_them():
    limit, processes, attempts = 500, 4, 200  # 800 attempts race for 500 calls
    env = process_env(ZOHO_API_DAILY_BUDGET=str(limit))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", SPENDER, str(attempts)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    spent = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        spent.append(int(out))
    assert sum(spent) == limit
    assert all(0 < n <= attempts for n in spent)  # they really raced
    assert ApiUsage.objects.get(day=budget.today()).used == limit
