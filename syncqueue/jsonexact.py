"""JSON for queued records that keeps every digit of a number.

Webhook bodies are parsed with ``parse_float=Decimal``. A number that a float represents
exactly is written back as a number; one that a float would round (more than ~15
significant digits) is written as a numeric string, which the ERP converters read exactly.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


class ExactNumberEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            if o.is_finite() and Decimal(repr(float(o))) == o:
                return float(o)
            return str(o)
        return super().default(o)
