"""Reading a webhook body into one event: entity, record, record id, operation.

Only what ingest needs is checked here (the record and its id); field values are checked
when the event is applied, so one bad field never costs the whole webhook.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from entities.mappings import BY_ENTITY, CONTACTS, MODULE_KEYS, EntityMapping, mapping_for
from inbox.signatures import FORM_CONTENT_TYPE, media_type

JSON_CONTENT_TYPES = frozenset({"application/json", "text/json"})
FORM_RECORD_FIELDS = ("JSONString", "payload")
OPERATIONS = frozenset({"create", "update", "delete"})
_EVENT_VERBS = {
    "created": "create",
    "create": "create",
    "added": "create",
    "updated": "update",
    "update": "update",
    "edited": "update",
    "deleted": "delete",
    "delete": "delete",
    "removed": "delete",
}


class UnusableWebhook(ValueError):
    """An authentic webhook TDS Core cannot turn into an event (kept, as rejected)."""


@dataclass(frozen=True)
class ParsedWebhook:
    entity: str
    module: str
    record: dict
    record_id: str
    operation: str
    event_type: str
    last_modified: str
    params: dict[str, str]


def supported_content_type(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind in JSON_CONTENT_TYPES or kind == FORM_CONTENT_TYPE


def parse_webhook(
    *,
    path_entity: str | None,
    method: str,
    content_type: str,
    body: bytes,
    query: list[tuple[str, str]],
    event_header: str,
    signed: bool,
) -> ParsedWebhook:
    """``signed``: the query string and body are covered by a verified Zoho signature."""
    params = dict(query)
    document, form_key = _read_document(content_type, body, params)
    module, record = _find_record(document, form_key, event_header, path_entity)
    mapping = _mapping(module, record, path_entity)
    record_id = _record_id(mapping, record)
    return ParsedWebhook(
        entity=mapping.entity,
        module=module,
        record=record,
        record_id=record_id,
        operation=_operation(event_header, params.get("operation"), method, signed=signed),
        event_type=event_header[:64],
        last_modified=_text(record.get("last_modified_time")),
        params=params,
    )


def _read_document(
    content_type: str, body: bytes, params: dict[str, str]
) -> tuple[Any, str | None]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnusableWebhook("the body is not UTF-8 text") from None
    if media_type(content_type) != FORM_CONTENT_TYPE:
        return _loads(text, "the body"), None
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:  # lenient decoding would store U+FFFD for what Zoho sent
        raise UnusableWebhook("the form's fields are not UTF-8 text") from None
    for key in (*FORM_RECORD_FIELDS, *sorted(MODULE_KEYS)):
        if key in fields:
            document = _loads(fields.pop(key), f"the form field {key!r}")
            params.update(fields)
            return document, key
    raise UnusableWebhook(
        "the form has no record field (JSONString, payload or a module key such as invoice)"
    )


def _loads(text: str, what: str) -> Any:
    if not text.strip():
        raise UnusableWebhook(f"{what} is empty")
    try:
        # Decimal, never float: money keeps every digit Zoho sent (see syncqueue.jsonexact).
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError, ArithmeticError) as error:
        # ArithmeticError: an exponent beyond what Decimal holds (1e9999999999999999999).
        raise UnusableWebhook(f"{what} is not valid JSON ({error})") from None
    if _MAY_HOLD_UNSTORABLE_TEXT.search(text) and _holds_unstorable_text(document):
        raise UnusableWebhook(
            f"{what} holds text the database cannot store (a NUL character or a lone surrogate)"
        )
    return document


# JSON spells a NUL or a lone surrogate only as an escape; without one, no walk is needed.
_MAY_HOLD_UNSTORABLE_TEXT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _holds_unstorable_text(document: Any) -> bool:
    """Whether any key or string holds what PostgreSQL refuses or UTF-8 cannot encode."""
    pending = [document]  # a loop, not recursion: the document may be nested ~1000 deep
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value or _has_lone_surrogate(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _find_record(
    document: Any, form_key: str | None, event_header: str, path_entity: str | None
) -> tuple[str, dict]:
    if not isinstance(document, dict):
        raise UnusableWebhook("the payload is not a JSON object")
    if form_key in MODULE_KEYS:
        return form_key, document  # type: ignore[return-value]
    wrapped = [key for key in document if key in MODULE_KEYS and isinstance(document[key], dict)]
    if len(wrapped) == 1:
        return wrapped[0], document[wrapped[0]]
    if len(wrapped) > 1:
        raise UnusableWebhook(f"the payload holds several modules: {', '.join(sorted(wrapped))}")
    # A custom raw payload: the record itself. The path (or the event header) names it.
    if path_entity:
        return _path_module(path_entity), document
    event_module = event_header.split(".")[0].strip().lower()
    if event_module in MODULE_KEYS:
        return event_module, document
    raise UnusableWebhook(
        "unknown module: the payload has no module key (item, contact, invoice, ...) "
        "and neither the path nor X-Zoho-Event names one"
    )


def _path_module(path_entity: str) -> str:
    return "contact" if path_entity == CONTACTS else BY_ENTITY[path_entity].module


def _mapping(module: str, record: dict, path_entity: str | None) -> EntityMapping:
    contact_type = None
    if module == "contact":
        contact_type = _text(record.get("contact_type")).lower()
        if not contact_type and path_entity in ("customers", "vendors"):
            contact_type = path_entity[:-1]  # a sparse payload (a delete): the path decides
        if contact_type not in ("customer", "vendor"):
            raise UnusableWebhook("a contact needs contact_type 'customer' or 'vendor'")
    mapping = mapping_for(module, contact_type)
    if mapping is None:
        raise UnusableWebhook(f"unknown module {module!r}")
    if path_entity and path_entity not in (mapping.entity, CONTACTS if module == "contact" else ""):
        raise UnusableWebhook(
            f"the payload is a {mapping.entity} record but was sent to /{path_entity}/"
        )
    return mapping


def _record_id(mapping: EntityMapping, record: dict) -> str:
    value = record.get(mapping.id_field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnusableWebhook(f"no record id: {mapping.id_field} is missing or not a string")
    text = str(value).strip()
    if not text or len(text) > 64:
        raise UnusableWebhook(f"no record id: {mapping.id_field} is blank or too long")
    return text


def _operation(event_header: str, stated: str | None, method: str, *, signed: bool) -> str:
    """The operation: CONTRACT §3's order, except that a signed statement cannot be overridden.

    Zoho signs the query string and a form body (hence ``operation=…`` in either), never a
    header or the method. Were X-Zoho-Event or the method to win over a signed ``operation``,
    a captured signed update could be resent as a delete: a new event (the operation is part
    of its identity), accepted, applied. So for a signed request the signed ``operation``
    decides, and an X-Zoho-Event or a DELETE method naming another operation is refused as
    unusable (kept as rejected, for operators to see). A signed request that states no
    operation, and every token or unsigned one, keeps the contract's order: header, then
    ``operation``, then the method. Nothing signed says what such a signed request is, so
    set ``operation=…`` in the URL of every Zoho webhook (docs/operations.md).
    """
    from_header = _event_operation(event_header) if event_header else None
    from_method = "delete" if method == "DELETE" else None  # POST and PUT state nothing
    if signed and stated is not None:
        operation = _stated_operation(stated)
        for source, claimed in (("X-Zoho-Event", from_header), ("the DELETE method", from_method)):
            if claimed is not None and claimed != operation:
                raise UnusableWebhook(
                    f"{source} says {claimed!r} but the signed operation is {operation!r}; "
                    "neither the header nor the method is signed"
                )
        return operation
    if from_header is not None:
        return from_header
    if stated is not None:
        return _stated_operation(stated)
    return from_method or "upsert"


def _event_operation(event_header: str) -> str:
    verb = event_header.rsplit(".", 1)[-1].strip().lower()
    return _EVENT_VERBS.get(verb, "update")


def _stated_operation(stated: str) -> str:
    operation = stated.strip().lower()
    if operation not in OPERATIONS:
        raise UnusableWebhook(f"operation {stated!r} is not one of create, update, delete")
    return operation


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
