"""Zoho's current version of one record, for replaying a dead letter from the source of
truth (``syncqueue.replay``): ``GET /books/v3/<module path>/<id>``."""

from __future__ import annotations

from typing import Any

from entities.mappings import BY_ENTITY
from reconciliation.reconcile import ZOHO_LISTS
from reconciliation.zoho_api import ReconciliationOff, ZohoApiError, ZohoClient, ZohoCredentials
from syncqueue.replay import ReplayUnavailable

NOT_FOUND = 404


def current_record(entity: str, zoho_id: str) -> dict[str, Any] | None:
    """The record as Zoho has it now; None when Zoho no longer has it."""
    mapping = BY_ENTITY[entity]
    path = f"{ZOHO_LISTS[mapping.module].path}/{zoho_id}"
    try:
        with ZohoClient(ZohoCredentials.from_settings()) as client:
            body = client.get(path)
    except ReconciliationOff as error:
        raise ReplayUnavailable(str(error)) from None
    except ZohoApiError as error:
        if error.status == NOT_FOUND:
            return None
        raise ReplayUnavailable(f"Zoho did not give {entity} {zoho_id}: {error}") from None
    # A single record comes under the module's key: {"invoice": {...}}.
    record = body.get(mapping.module)
    if not isinstance(record, dict):
        raise ReplayUnavailable(f"GET {path}: the answer has no {mapping.module!r} object")
    return record
