"""Helpers for tests: sign like Zoho, post to the test client or to a live API."""

from __future__ import annotations

from pathlib import Path

import httpx
from django.test import Client

from inbox.signatures import sign

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "zoho"
SECRET = "TdsCoreWebhook2025Secret"
TOKEN = "test-shared-token-123"

# Fixture file -> (webhook path entity, ERP entity)
FIXTURE_ENTITIES = {
    "item": ("products", "products"),
    "contact_customer": ("customers", "customers"),
    "contact_vendor": ("vendors", "vendors"),
    "invoice": ("invoices", "invoices"),
    "bill": ("bills", "bills"),
    "creditnote": ("credit-notes", "credit-notes"),
    "salesorder": ("sales-orders", "sales-orders"),
    "payment": ("payments", "payments"),
    "inventory_adjustment": ("stock-adjustments", "stock-adjustments"),
    "pricebook": ("price-lists", "price-lists"),
}


def signed_post(
    client: Client,
    path: str,
    body: bytes | str,
    *,
    content_type: str = "application/json",
    query: str = "",
    secret: str | None = SECRET,
    headers: dict[str, str] | None = None,
    method: str = "post",
):
    raw = body.encode() if isinstance(body, str) else body
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
    if secret is not None:
        extra["HTTP_X_ZOHO_WEBHOOK_SIGNATURE"] = sign(secret, query, content_type, raw)
    url = f"{path}?{query}" if query else path
    return getattr(client, method)(url, data=raw, content_type=content_type, **extra)


def signed_json_headers(body: bytes) -> dict[str, str]:
    """The headers of a JSON webhook signed as Zoho signs it."""
    return {
        "Content-Type": "application/json",
        "X-Zoho-Webhook-Signature": sign(SECRET, "", "application/json", body),
    }


def post_signed(base: str, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{base}{path}", content=body, headers={**signed_json_headers(body), **headers}, timeout=10
    )
