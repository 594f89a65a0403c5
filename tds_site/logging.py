"""JSON log lines for journald, with the request id, and secrets scrubbed."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "process": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


# A token in a query string, whatever its encoding (it also reaches access-log lines).
_TOKEN_PARAM = re.compile(r"([?&]token=)[^&\s\"'>]*", re.IGNORECASE)


def redact(line: str) -> str:
    """Scrub the configured secrets and any ``token=`` parameter from a finished line.

    Done on the whole line, not the message alone: Django attaches the request (with its
    query string) and tracebacks quote arguments, and both end up in the JSON.
    """
    from django.conf import settings

    for secret in getattr(settings, "SECRET_VALUES", ()):
        line = line.replace(secret, "***")
        encoded = json.dumps(secret)[1:-1]
        if encoded != secret:
            line = line.replace(encoded, "***")
    return _TOKEN_PARAM.sub(r"\1***", line)
