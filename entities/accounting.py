"""Does a document add up? Its lines to its sub-total, and sub-total, discount, tax,
adjustment and shipping to its total, within rounding.

Zoho is the source of truth, so a document that does not add up is still applied; the
mismatch is recorded (``DocumentMismatch``) for an operator to look at: it raises the
``document_mismatch`` alert and shows in the admin's filter.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from entities.fields import FieldValueError, to_decimal

# Each line and each sum may be rounded by half a cent on Zoho's side.
ROUNDING_PER_TERM = Decimal("0.01")
ZERO = Decimal(0)


def totals_mismatch(record: dict[str, Any], lines_key: str = "line_items") -> str | None:
    """Why the document does not add up, or None. A sparse record (no total or no lines)
    has nothing to check."""
    lines = record.get(lines_key)
    if not isinstance(lines, list) or record.get("total") in (None, ""):
        return None
    try:
        return _mismatch(record, [line for line in lines if isinstance(line, dict)])
    except FieldValueError as error:
        return f"{error.field} {error.value!r} {error.reason}"


def _mismatch(record: dict[str, Any], lines: list[dict[str, Any]]) -> str | None:
    tolerance = ROUNDING_PER_TERM * (len(lines) + 1)
    problems = []
    line_sum = sum((_amount(line, "item_total") for line in lines), ZERO)
    sub_total = to_decimal("sub_total", record.get("sub_total"))
    if sub_total is not None and abs(line_sum - sub_total) > tolerance:
        problems.append(f"the lines add up to {line_sum}, sub_total is {sub_total}")
    base = line_sum if sub_total is None else sub_total
    discount = _discount(record, base)
    # Inclusive prices already hold the tax.
    tax = ZERO if record.get("is_inclusive_tax") is True else _amount(record, "tax_total")
    adjustment = _amount(record, "adjustment")
    shipping = _amount(record, "shipping_charge")
    expected = base - discount + tax + adjustment + shipping
    total = _amount(record, "total")
    if abs(expected - total) > tolerance:
        problems.append(
            f"sub_total {base} - discount {discount} + tax {tax} + adjustment {adjustment} "
            f"+ shipping {shipping} = {expected}, total is {total}"
        )
    return "; ".join(problems) or None


def _amount(source: dict[str, Any], field: str) -> Decimal:
    return to_decimal(field, source.get(field)) or ZERO


def _discount(record: dict[str, Any], base: Decimal) -> Decimal:
    """The document-level discount as an amount. Item-level discounts are already in the
    lines' totals; Zoho gives a percentage as "12.5%"."""
    if record.get("discount_type") == "item_level":
        return ZERO
    if record.get("discount_amount") not in (None, ""):
        return _amount(record, "discount_amount")
    discount = record.get("discount")
    if isinstance(discount, str) and discount.strip().endswith("%"):
        percent = to_decimal("discount", discount.strip()[:-1]) or ZERO
        return (base * percent / 100).quantize(Decimal("0.01"))
    return _amount(record, "discount")
