"""A small client of the Zoho Books API: OAuth refresh, rate limits, paging, the daily budget.

Only what reconciliation and the import need. Every request to the Books API spends one
call of the daily budget first (``reconciliation.budget``). Secrets (client secret, refresh
token, access token) go into request bodies and headers only, never into messages, logs or
exceptions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from django.conf import settings

from reconciliation import budget

logger = logging.getLogger("tds.reconcile")

CREDENTIAL_SETTINGS = (
    "ZOHO_CLIENT_ID",
    "ZOHO_CLIENT_SECRET",
    "ZOHO_REFRESH_TOKEN",
    "ZOHO_ORGANIZATION_ID",
)
PER_PAGE = 200  # Zoho's maximum
MAX_PAGES = 5000  # a million records; beyond that the API is misbehaving, not paging
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Per request, 429s, 5xx answers and network errors together.
MAX_ATTEMPTS = 5
MAX_RETRY_AFTER_SECONDS = 120.0
DEFAULT_RETRY_AFTER_SECONDS = 60.0  # Zoho's limits are per minute
SERVER_ERROR_BACKOFF_SECONDS: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0)
# Refresh a little before Zoho's expiry so that a long run never sends a dying token.
TOKEN_MARGIN_SECONDS = 60.0
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0


class ZohoApiError(Exception):
    """The Zoho API could not give what was asked (after the retries that make sense)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ZohoAuthError(ZohoApiError):
    """No access token: the credentials are wrong or the accounts server is unreachable."""


class ReconciliationOff(Exception):
    """Some of the OAuth credentials are not configured."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"reconciliation is off: {', '.join(missing)} not set")


@dataclass(frozen=True)
class ZohoList:
    """A Books API list endpoint and the key of its records in the answer."""

    module: str  # the mappings' module key
    path: str
    list_key: str
    # Some lists show only active records unless asked for all; a full listing (the import,
    # the deletions pass) must see inactive ones too, or they would look deleted.
    all_filter: dict[str, str] = field(default_factory=dict)


_EVERY_STATUS = {"filter_by": "Status.All"}
ZOHO_LISTS: dict[str, ZohoList] = {
    zoho_list.module: zoho_list
    for zoho_list in (
        ZohoList("item", "items", "items", _EVERY_STATUS),
        ZohoList("contact", "contacts", "contacts", _EVERY_STATUS),
        ZohoList("invoice", "invoices", "invoices", _EVERY_STATUS),
        ZohoList("bill", "bills", "bills", _EVERY_STATUS),
        ZohoList("creditnote", "creditnotes", "creditnotes", _EVERY_STATUS),
        ZohoList("salesorder", "salesorders", "salesorders", _EVERY_STATUS),
        ZohoList("payment", "customerpayments", "customerpayments"),
        ZohoList("inventory_adjustment", "inventoryadjustments", "inventory_adjustments"),
        ZohoList("pricebook", "pricebooks", "pricebooks"),
    )
}


@dataclass(frozen=True)
class Page:
    number: int
    records: list[dict]
    has_more: bool


def missing_credentials() -> list[str]:
    return [name for name in CREDENTIAL_SETTINGS if not getattr(settings, name, None)]


@dataclass(frozen=True)
class ZohoCredentials:
    api_base_url: str
    accounts_url: str
    organization_id: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)

    @classmethod
    def from_settings(cls) -> ZohoCredentials:
        missing = missing_credentials()
        if missing:
            raise ReconciliationOff(missing)
        return cls(
            api_base_url=settings.ZOHO_API_BASE_URL.rstrip("/"),
            accounts_url=settings.ZOHO_ACCOUNTS_URL.rstrip("/"),
            organization_id=settings.ZOHO_ORGANIZATION_ID,
            client_id=settings.ZOHO_CLIENT_ID,
            client_secret=settings.ZOHO_CLIENT_SECRET,
            refresh_token=settings.ZOHO_REFRESH_TOKEN,
        )


def zoho_time(moment: datetime) -> str:
    """The timestamp format Zoho uses itself: ``2025-03-01T00:00:00+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def retry_after_seconds(value: str | None) -> float:
    """``Retry-After`` as seconds (a number or an HTTP date), bounded."""
    if value is None or not value.strip():
        return DEFAULT_RETRY_AFTER_SECONDS
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_SECONDS
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class ZohoClient:
    def __init__(
        self,
        credentials: ZohoCredentials,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        spend: Callable[[], object] = budget.spend_one,
    ) -> None:
        self._credentials = credentials
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT)
        self._sleep = sleep
        self._spend = spend
        self._token: str | None = None
        self._token_valid_until = 0.0  # time.monotonic()

    def __enter__(self) -> ZohoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def refresh_access_token(self) -> None:
        url = f"{self._credentials.accounts_url}/oauth/v2/token"
        form = {
            "refresh_token": self._credentials.refresh_token,
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            "grant_type": "refresh_token",
        }
        try:
            response = self._http.post(url, data=form)
        except httpx.HTTPError as error:
            raise ZohoAuthError(
                f"could not reach the Zoho accounts server ({type(error).__name__})"
            ) from None
        body = _json_object(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            # Zoho answers 200 with {"error": "invalid_code"} for a bad refresh token.
            reason = body.get("error") or f"HTTP {response.status_code}"
            raise ZohoAuthError(
                f"Zoho refused the token refresh ({reason}); check ZOHO_CLIENT_ID, "
                "ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN"
            )
        self._token = token
        lifetime = _number(body.get("expires_in"), DEFAULT_TOKEN_LIFETIME_SECONDS)
        usable = max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
        self._token_valid_until = time.monotonic() + usable
        logger.info("zoho access token refreshed", extra={"expires_in": lifetime})

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """GET ``/books/v3/<path>``: refresh once on 401, wait out 429s, back off on 5xx."""
        url = f"{self._credentials.api_base_url}/books/v3/{path}"
        query = {"organization_id": self._credentials.organization_id, **(params or {})}
        refreshed_after_401 = False
        failures = 0
        while True:
            response, problem = self._send(url, query)
            if response is not None:
                status = response.status_code
                if status == 401 and not refreshed_after_401:
                    refreshed_after_401 = True
                    self.refresh_access_token()
                    continue
                if 200 <= status < 300:
                    return _zoho_answer(path, response)
                if status != 429 and status < 500:
                    raise ZohoApiError(
                        f"GET {path}: HTTP {status}{_zoho_message(response)}", status
                    )
                problem = f"HTTP {status}"
            failures += 1
            if failures >= MAX_ATTEMPTS:
                raise ZohoApiError(f"GET {path}: {problem} ({failures} attempts)")
            delay = self._retry_delay(response, failures)
            logger.warning(
                "zoho api retry",
                extra={"path": path, "problem": problem, "attempt": failures, "delay": delay},
            )
            self._sleep(delay)

    def pages(
        self, zoho_list: ZohoList, params: dict[str, Any] | None = None, first_page: int = 1
    ) -> Iterator[Page]:
        """Every page of a list endpoint from ``first_page`` on, ``params`` as filters."""
        path, key = zoho_list.path, zoho_list.list_key
        for number in range(first_page, MAX_PAGES + 1):
            body = self.get(path, {**(params or {}), "page": number, "per_page": PER_PAGE})
            records = body.get(key)
            if not isinstance(records, list):
                raise ZohoApiError(f"GET {path} page {number}: the answer has no {key!r} list")
            context = body.get("page_context")
            has_more = isinstance(context, dict) and context.get("has_more_page") is True
            yield Page(number, [r for r in records if isinstance(r, dict)], has_more)
            if not has_more:
                return
        raise ZohoApiError(f"GET {path}: still more pages after {MAX_PAGES}")

    def _send(self, url: str, query: dict[str, Any]) -> tuple[httpx.Response | None, str]:
        if self._token is None or time.monotonic() >= self._token_valid_until:
            self.refresh_access_token()
        self._spend()  # raises ApiBudgetExhausted: nothing is sent then
        try:
            response = self._http.get(
                url, params=query, headers={"Authorization": f"Zoho-oauthtoken {self._token}"}
            )
        except httpx.TransportError as error:
            return None, type(error).__name__
        return response, ""

    @staticmethod
    def _retry_delay(response: httpx.Response | None, failures: int) -> float:
        if response is not None and response.status_code == 429:
            return retry_after_seconds(response.headers.get("Retry-After"))
        steps = SERVER_ERROR_BACKOFF_SECONDS
        return steps[min(failures, len(steps)) - 1] if steps else 0.0


def _json_object(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _zoho_message(response: httpx.Response) -> str:
    message = _json_object(response).get("message")
    return f" ({str(message)[:200]})" if message else ""


def _zoho_answer(path: str, response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise ZohoApiError(f"GET {path}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise ZohoApiError(f"GET {path}: the answer is not a JSON object")
    code = body.get("code", 0)
    if code not in (0, "0"):
        raise ZohoApiError(f"GET {path}: Zoho error {code}{_zoho_message(response)}")
    return body


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
