"""Webhooks for the fault suite: signed invoices, sent over real HTTP."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from tests.support import FIXTURES, signed_json_headers

_INVOICE = json.loads((FIXTURES / "invoice.json").read_text())["invoice"]
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def invoice(record_no: int, version: int, total: object = None) -> dict:
    """Version ``version`` of invoice ``record_no``: newer versions are later and larger."""
    record = copy.deepcopy(_INVOICE)
    record["invoice_id"] = f"77{record_no:08d}"
    record["invoice_number"] = f"INV-F{record_no:05d}"
    modified = _EPOCH + timedelta(minutes=version)
    record["last_modified_time"] = modified.strftime("%Y-%m-%dT%H:%M:%S+0000")
    record["total"] = invoice_total(version) if total is None else total
    return {"invoice": record}


def invoice_total(version: int) -> Decimal:
    return Decimal(1000 + version)


def newest_invoice_totals(sent: int, records: int) -> dict[str, Decimal]:
    """Each record's total once events ``0 .. sent-1`` (event n: record n % records,
    version n // records) have applied: its newest version's."""
    return {
        invoice(n % records, 0)["invoice"]["invoice_id"]: invoice_total(n // records)
        for n in range(sent)
    }


def send(client: httpx.Client, path: str, body: dict) -> httpx.Response:
    raw = json.dumps(body, default=str).encode()
    return client.post(path, content=raw, headers=signed_json_headers(raw))
