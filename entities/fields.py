"""Converters from what Zoho really sends to what the ERP columns store.

Zoho sends numbers as JSON numbers or numeric strings, blank strings for "no value", and
timestamps like ``2025-03-05T14:07:58+0300``. Each converter reads one source field of a
record and either returns a clean value or raises ``FieldValueError`` naming that field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_DIGITS_ONLY = re.compile(r"^-?\d+$")


class FieldValueError(ValueError):
    """A record field holds a value the ERP cannot store."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field, self.value, self.reason = field, value, reason
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        super().__init__(f"{field}: {shown} {reason}")


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def to_text(field: str, value: Any) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, dict | list):
        raise FieldValueError(field, value, "is not text")
    return str(value)


def to_zoho_id(field: str, value: Any) -> str | None:
    """Ids may arrive as strings or JSON integers; never through float (19 digits)."""
    if is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldValueError(field, value, "is not an id (a string or an integer)")
    text = str(value).strip()
    if len(text) > 64:
        raise FieldValueError(field, value, "is longer than 64 characters")
    return text


def to_decimal(field: str, value: Any) -> Decimal | None:
    if is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise FieldValueError(field, value, "is not a number")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise FieldValueError(field, value, "is not a number") from None
    if not number.is_finite():
        raise FieldValueError(field, value, "is not a finite number")
    if number.adjusted() >= 18:
        raise FieldValueError(field, value, "is too large for the ERP (18 digits at most)")
    return number.quantize(Decimal("0.000001")) if number.as_tuple().exponent < -6 else number


def to_date(field: str, value: Any) -> date | None:
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise FieldValueError(field, value, "is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise FieldValueError(field, value, "is not a date (YYYY-MM-DD)") from None


def to_timestamp(field: str, value: Any) -> datetime | None:
    """Zoho's ``-0800`` offsets, ``+05:30``, ``Z`` and bare dates (as 00:00 UTC)."""
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise FieldValueError(field, value, "is not a timestamp")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FieldValueError(field, value, "is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


Converter = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Source:
    """One column's value: a source field of the record and its converter.

    ``fallback`` reads a value from elsewhere in the record when the field is blank
    (a contact's e-mail lives in its primary contact person in single-record payloads).
    """

    field: str
    convert: Converter
    fallback: Callable[[dict], Any] | None = None
    fallback_key: str | None = None  # the record key the fallback reads

    def present(self, record: dict) -> bool:
        """Whether the record carries this value at all (sparse payloads leave it alone)."""
        return self.field in record or (
            self.fallback_key is not None and self.fallback_key in record
        )

    def read(self, record: dict) -> Any:
        value = record.get(self.field)
        if is_blank(value) and self.fallback is not None:
            value = self.fallback(record)
        return self.convert(self.field, value)


def text(field: str) -> Source:
    return Source(field, to_text)


def contact_detail(field: str) -> Source:
    """A contact's e-mail or phone: top level in list payloads, else its primary person."""
    return Source(field, to_text, primary_person(field), "contact_persons")


def zoho_id(field: str) -> Source:
    return Source(field, to_zoho_id)


def money(field: str) -> Source:
    return Source(field, to_decimal)


def day(field: str) -> Source:
    return Source(field, to_date)


def primary_person(attribute: str) -> Callable[[dict], Any]:
    """The attribute of the contact person marked primary (else the first one)."""

    def read(record: dict) -> Any:
        people = [p for p in record.get("contact_persons") or [] if isinstance(p, dict)]
        primary = next((p for p in people if p.get("is_primary_contact")), None)
        chosen = primary or (people[0] if people else {})
        return chosen.get(attribute)

    return read
