"""What operators do to alerts (admin actions and the dashboard API): one UPDATE each."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from alerts.models import Alert, AlertStatus, NotifyEvent
from alerts.notify import enabled_channels


def acknowledge_alerts(alerts: QuerySet[Alert], actor: str) -> int:
    """Mark the open ones acknowledged by ``actor``; returns how many changed."""
    return alerts.filter(status=AlertStatus.OPEN).update(
        status=AlertStatus.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=timezone.now()
    )


def resolve_alerts(alerts: QuerySet[Alert], actor: str) -> int:
    """Resolve the unresolved ones by hand and announce it, as the monitor would.

    If the condition still holds, the next monitor run opens a fresh alert for it.
    """
    channels = enabled_channels()
    return alerts.exclude(status=AlertStatus.RESOLVED).update(
        status=AlertStatus.RESOLVED,
        resolved_at=timezone.now(),
        resolved_by=actor,
        notify_event=NotifyEvent.RESOLVED,
        notified_status=AlertStatus.RESOLVED,
        pending_channels=",".join(channels),
        notify_pending=bool(channels),
        notify_attempts=0,
        delivery_error="",
    )
