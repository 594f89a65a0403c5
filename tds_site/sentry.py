"""Errors to Sentry when SENTRY_DSN is set, scrubbed of secrets by the code that scrubs the
logs (``tds_site.logging.redact``): an event is serialised, redacted as a log line is, and
parsed back before it leaves the process."""

from __future__ import annotations

import json
from typing import Any

from tds_site.logging import redact


def scrub(event: dict[str, Any], *_hint: Any) -> dict[str, Any]:
    """Sentry's ``before_send`` (called with a hint, unused): the event with every
    configured secret replaced by ***."""
    return json.loads(redact(json.dumps(event, default=str, ensure_ascii=False)))


def start_sentry(dsn: str, environment: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        # Errors only: no request bodies, users or addresses leave, and no tracing.
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=0,
        before_send=scrub,
        before_send_transaction=scrub,
    )
