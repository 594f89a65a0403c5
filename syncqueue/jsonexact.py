"""JSON for queued records that keeps every digit of a number.

Webhook bodies are parsed with ``parse_float=Decimal``. A number that a float represents
exactly is written back as a number; one that a float would round (more than ~15
significant digits) is written as a numeric string, which the ERP converters read exactly.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

# Up to 15 significant digits (a double's DBL_DIG) within a double's normal range, a
# decimal survives the float and its shortest repr exactly: no round trip to check.
_FLOAT_EXACT_DIGITS = 15
_FLOAT_EXPONENTS = range(-307, 308)


class ExactNumberEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            if not o.is_finite():
                return str(o)
            if len(o.as_tuple().digits) <= _FLOAT_EXACT_DIGITS and o.adjusted() in _FLOAT_EXPONENTS:
                return float(o)  # the common case (a money amount): checked without a repr
            if Decimal(repr(float(o))) == o:
                return float(o)
            return str(o)
        return super().default(o)
