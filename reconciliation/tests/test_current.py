"""Zoho's current record for a replay from the source (``reconciliation.current``), against
the fake Zoho: one GET, spent from the daily budget like every other call."""

from __future__ import annotations

import json

import pytest

from reconciliation.budget import usage_today
from reconciliation.current import current_record
from syncqueue.replay import ReplayUnavailable
from tests.factories import zoho_id, zoho_record

pytestmark = pytest.mark.django_db


def test_the_current_record_is_fetched_whole_and_a_deleted_one_is_none(zoho):
    invoice = json.loads(json.dumps(zoho_record("invoices", zoho_id(1)), default=float))
    zoho.records["invoices"] = [invoice]
    assert current_record("invoices", zoho_id(1)) == invoice
    assert current_record("invoices", zoho_id(2)) is None  # Zoho answers 404
    assert usage_today().used == 2


def test_no_replay_from_zoho_once_the_budget_is_spent(zoho, settings):
    settings.ZOHO_API_DAILY_BUDGET = 1
    zoho.records["items"] = []
    current_record("products", zoho_id(1))
    with pytest.raises(ReplayUnavailable, match=r"budget .* is used up"):
        current_record("products", zoho_id(1))
    assert len(zoho.books_requests()) == 1
