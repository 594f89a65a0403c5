"""The daily budget of Zoho Books API calls, shared by every process that calls Zoho.

Zoho caps API calls per organisation per day; running out stops webhooks' own follow-ups
too, so TDS Core rations itself: ``ZOHO_API_DAILY_BUDGET`` calls per UTC day, counted in
``tds_zoho_api_usage``. Every request sent to the Books API, retries included (Zoho counts
them), spends one before it is sent. OAuth token refreshes go to the accounts server, which
has its own limits, and are not counted.

Spending is one statement (an upsert whose update only happens below the limit), so any
number of processes on one database can never spend more than the budget between them.
Call it outside a transaction: the spend must commit at once, whatever happens next, and
must not hold the day's row locked while Zoho answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection

from reconciliation.models import ApiUsage
from syncqueue.stats import OtherFigure

_TABLE = ApiUsage._meta.db_table
_SPEND = (
    f"INSERT INTO {_TABLE} (day, used) VALUES (%s, 1) "
    f"ON CONFLICT (day) DO UPDATE SET used = {_TABLE}.used + 1 "
    f"WHERE {_TABLE}.used < %s RETURNING used"
)


class ApiBudgetExhausted(Exception):
    """Today's Zoho API budget is used up: stop calling Zoho until tomorrow (UTC)."""

    def __init__(self, usage: BudgetUsage) -> None:
        self.usage = usage
        super().__init__(
            f"the Zoho API budget for {usage.day} (UTC) is used up: {usage.used} of "
            f"{usage.limit} calls (ZOHO_API_DAILY_BUDGET); it renews at 00:00 UTC"
        )


@dataclass(frozen=True)
class BudgetUsage:
    day: date
    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "date": self.day.isoformat(),
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
        }


def today() -> date:
    return datetime.now(UTC).date()


def spend_one() -> int:
    """Take one call from today's budget and return today's count; raises
    ``ApiBudgetExhausted`` (spending nothing) when none is left."""
    limit: int = settings.ZOHO_API_DAILY_BUDGET
    day = today()
    with connection.cursor() as cursor:
        cursor.execute(_SPEND, [day, limit])
        row = cursor.fetchone()
    if row is None:
        raise ApiBudgetExhausted(usage_on(day))
    return row[0]


def usage_on(day: date) -> BudgetUsage:
    used = ApiUsage.objects.filter(day=day).values_list("used", flat=True).first() or 0
    return BudgetUsage(day, used, settings.ZOHO_API_DAILY_BUDGET)


def usage_today() -> BudgetUsage:
    return usage_on(today())


def _budget_line(figure: dict[str, object]) -> str:
    return (
        f"zoho api budget {figure['date']} (UTC): used {figure['used']} of {figure['limit']}, "
        f"remaining {figure['remaining']}"
    )


# tds_stats shows it (text and --json); registered by the app as it starts.
BUDGET_FIGURE = OtherFigure("zoho_api_budget", lambda: usage_today().as_dict(), _budget_line)
