"""Which alerts owe a notification, and delivering them.

The monitor marks an alert when it opens, escalates above what was last announced, or
resolves; ``deliver_pending`` sends the marked ones to every enabled destination that has not
taken them yet. A destination that fails keeps its place in ``pending_channels`` (with the
error on the row) and is tried again on the next monitor run; the others are not re-sent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from alerts import channels, messages
from alerts.models import SEVERITY_RANK, Alert

logger = logging.getLogger("tds.alerts")

# Well inside the django-q2 task timeout (Q_CLUSTER["timeout"]), leaving time for the checks.
DELIVERY_BUDGET_SECONDS = 30.0


@dataclass(frozen=True)
class Delivery:
    alert_id: int
    channel: str
    ok: bool
    error: str = ""


def enabled_channels() -> list[str]:
    names = []
    if settings.ALERT_SLACK_ENABLED:
        names.append("slack")
    if settings.ALERT_EMAIL_ENABLED:
        names.append("email")
    return names


def mark_for_notification(alert: Alert, event: str) -> None:
    """Queue an announcement of ``alert``'s current state (not saved here)."""
    alert.notify_event = event
    if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[alert.notified_severity]:
        alert.notified_severity = alert.severity
    alert.notified_status = alert.status
    names = enabled_channels()
    alert.pending_channels = ",".join(names)
    alert.notify_pending = bool(names)
    alert.notify_attempts = 0
    alert.delivery_error = ""


def _send(channel: str, alert: Alert) -> None:
    if channel == "slack":
        channels.send_slack(messages.slack_payload(alert))
    elif channel == "email":
        channels.send_email(messages.email_subject(alert), messages.email_body(alert))
    else:
        raise channels.DeliveryError(f"unknown channel {channel!r}")


def deliver_pending(budget_seconds: float | None = None) -> list[Delivery]:
    """Send what is owed, oldest alert first, within a time budget.

    The monitor runs as a django-q2 task with a timeout, and a destination that hangs costs
    its timeout on every try: so a destination that fails once is not tried again for the
    other alerts of this run, and what the budget leaves over waits for the next run.
    """
    budget = DELIVERY_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    results: list[Delivery] = []
    failing: set[str] = set()
    for alert in Alert.objects.filter(notify_pending=True).order_by("id"):
        if time.monotonic() >= deadline:
            logger.warning("alert delivery budget spent; the rest waits for the next run")
            break
        still_pending, errors = [], []
        for channel in alert.channels_pending:
            if channel in failing:
                still_pending.append(channel)
                errors.append(f"{channel}: not tried (it failed for another alert this run)")
                continue
            try:
                _send(channel, alert)
                results.append(Delivery(alert.pk, channel, True))
            except Exception as error:
                failing.add(channel)
                text = (
                    str(error)
                    if isinstance(error, channels.DeliveryError)
                    else (channels.redact(f"{channel}: {type(error).__name__}: {error}"))
                )
                still_pending.append(channel)
                errors.append(text)
                results.append(Delivery(alert.pk, channel, False, text))
                logger.warning(
                    "alert notification failed; retrying on the next run",
                    extra={"alert_id": alert.pk, "channel": channel, "error": text},
                )
        changes = {
            "pending_channels": ",".join(still_pending),
            "notify_pending": bool(still_pending),
            "notify_attempts": alert.notify_attempts + 1,
            "delivery_error": "; ".join(errors),
        }
        if not still_pending:
            changes["notified_at"] = timezone.now()
        # Only if nothing newer was queued meanwhile (an operator resolving it, another run):
        # that newer announcement must stay pending.
        Alert.objects.filter(
            pk=alert.pk,
            notify_event=alert.notify_event,
            notified_status=alert.notified_status,
            pending_channels=alert.pending_channels,
            notify_attempts=alert.notify_attempts,
        ).update(**changes)
    return results
