"""The Zoho client against the fake Zoho: Zoho's paging, rate limits and token expiry, and
the daily budget that every Books API request spends."""

from __future__ import annotations

import pytest

from reconciliation import budget
from reconciliation.budget import ApiBudgetExhausted, usage_today
from reconciliation.tests.fake_zoho import ACCESS_TOKENS, MAX_PER_PAGE
from reconciliation.zoho_api import (
    PER_PAGE,
    ZOHO_LISTS,
    ZohoApiError,
    ZohoClient,
    ZohoCredentials,
)
from tests.factories import zoho_id, zoho_record

pytestmark = pytest.mark.django_db

ITEMS = ZOHO_LISTS["item"]


def items(count: int) -> list[dict]:
    return [zoho_record("products", zoho_id(n)) for n in range(count)]


def client() -> ZohoClient:
    return ZohoClient(ZohoCredentials.from_settings())


def test_the_client_asks_for_zohos_largest_page_and_the_server_refuses_more(zoho):
    assert PER_PAGE == MAX_PER_PAGE == 200
    zoho.records["items"] = items(3)
    with client() as api, pytest.raises(ZohoApiError) as refused:
        api.get("items", {"page": 1, "per_page": MAX_PER_PAGE + 1})
    assert refused.value.status == 400


def test_every_page_is_read_until_zoho_says_there_is_no_more(zoho):
    zoho.records["items"] = items(2 * PER_PAGE + 17)
    with client() as api:
        pages = list(api.pages(ITEMS, ITEMS.all_filter))
    assert [(p.number, len(p.records), p.has_more) for p in pages] == [
        (1, 200, True),
        (2, 200, True),
        (3, 17, False),
    ]
    requests = zoho.api_requests("items")
    assert [r.query["page"] for r in requests] == ["1", "2", "3"]
    assert {r.query["per_page"] for r in requests} == {"200"}
    assert {r.query["filter_by"] for r in requests} == {"Status.All"}
    # A list gives summaries; the record's own GET gives it whole.
    assert all("item_id" in record for page in pages for record in page.records)


def test_reading_can_start_at_a_later_page(zoho):
    zoho.records["items"] = items(450)
    with client() as api:
        numbers = [page.number for page in api.pages(ITEMS, first_page=2)]
    assert numbers == [2, 3]


def test_a_429_every_few_calls_is_waited_out_for_retry_after(zoho):
    zoho.records["items"] = items(3 * PER_PAGE)
    zoho.rate_limit_every = 2
    with client() as api:
        pages = list(api.pages(ITEMS))
    assert sum(len(p.records) for p in pages) == 600
    requests = zoho.api_requests("items")
    assert len(requests) == 5  # page 1, 429, page 2, 429, page 3
    for limited, retried in zip(requests[1::2], requests[2::2], strict=False):
        assert retried.at - limited.at >= 1.0  # Retry-After: 1


def test_an_access_token_that_expires_after_some_calls_is_refreshed(zoho):
    zoho.records["items"] = items(5 * PER_PAGE)
    zoho.token_calls = 2
    with client() as api:
        pages = list(api.pages(ITEMS))
    assert len(pages) == 5
    # Two pages per token; each expiry costs one refused call and one refresh.
    assert len(zoho.token_requests) == 3
    tokens = [r.headers["authorization"] for r in zoho.api_requests("items")]
    assert tokens[-1] == f"Zoho-oauthtoken {ACCESS_TOKENS[2]}"


def test_an_access_token_that_expires_with_time_is_refreshed(zoho):
    import time

    zoho.records["items"] = items(2 * PER_PAGE)
    zoho.token_seconds = 0.3
    with client() as api:
        first = api.get("items", {"page": 1, "per_page": PER_PAGE})
        time.sleep(0.5)
        second = api.get("items", {"page": 2, "per_page": PER_PAGE})
    assert len(first["items"]) == len(second["items"]) == 200
    assert len(zoho.token_requests) == 2


def test_every_books_request_spends_the_budget_retries_included_token_refreshes_not(zoho):
    zoho.records["items"] = items(2 * PER_PAGE)
    zoho.rate_limit_every = 2
    zoho.token_calls = 1
    with client() as api:
        list(api.pages(ITEMS))
    sent = len(zoho.books_requests())
    assert sent > 2  # pages, 429s and expired-token refusals
    assert usage_today().used == sent
    assert len(zoho.token_requests) >= 2  # and none of them counted


def test_an_exhausted_budget_sends_nothing_and_says_so_once(zoho, settings):
    settings.ZOHO_API_DAILY_BUDGET = 3
    zoho.records["items"] = items(5 * PER_PAGE)
    read: list[int] = []
    with client() as api, pytest.raises(ApiBudgetExhausted) as stopped:
        for page in api.pages(ITEMS):
            read.append(page.number)
    assert read == [1, 2, 3]
    assert len(zoho.books_requests()) == 3
    assert "3 of 3 calls" in str(stopped.value)
    assert "ZOHO_API_DAILY_BUDGET" in str(stopped.value)
    assert budget.usage_today().remaining == 0
    # The budget is the process's business, not Zoho's: no further request goes out.
    with client() as api, pytest.raises(ApiBudgetExhausted):
        api.get("items/1")
    assert len(zoho.books_requests()) == 3
