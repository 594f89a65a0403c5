"""``tds_alerts``: one row per occurrence of a monitored condition, raised until it clears.

A condition that stays bad keeps its row (``last_seen_at`` and ``seen_count`` move on; a
warning that turns critical escalates in place). The partial unique constraint makes "at most
one unresolved alert per code" a database fact, so two monitors running at once cannot both
open one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Code(models.TextChoices):
    QUEUE_BACKLOG = "queue_backlog"
    DEAD_LETTERS = "dead_letters"
    FAILURE_RATE = "failure_rate"
    STUCK_EVENTS = "stuck_events"
    OLDEST_PENDING = "oldest_pending"
    WORKER_DOWN = "worker_down"
    RECORDS_HELD = "records_held"
    DOCUMENT_MISMATCH = "document_mismatch"
    API_BUDGET = "api_budget"


class Severity(models.TextChoices):
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK = {"": 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class NotifyEvent(models.TextChoices):
    OPENED = "opened"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class Alert(models.Model):
    code = models.CharField(max_length=32, choices=Code.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    message = models.TextField()
    value = models.DecimalField(
        max_digits=20, decimal_places=4, help_text="What was measured on the last run."
    )
    threshold = models.DecimalField(
        max_digits=20, decimal_places=4, help_text="The value it exceeded (for its severity)."
    )
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default="open")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    seen_count = models.PositiveIntegerField(default=1)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(
        max_length=150, blank=True, default="", help_text="Empty when the monitor resolved it."
    )

    # Notification bookkeeping. ``notified_*`` is the state last announced (or queued to be);
    # ``pending_channels`` are the destinations that still owe that announcement and are
    # retried on every monitor run until they take it.
    notify_event = models.CharField(max_length=16, choices=NotifyEvent.choices, blank=True)
    notified_severity = models.CharField(max_length=16, blank=True, default="")
    notified_status = models.CharField(max_length=16, blank=True, default="")
    notify_pending = models.BooleanField(default=False)
    pending_channels = models.CharField(max_length=64, blank=True, default="")
    notify_attempts = models.PositiveIntegerField(default=0)
    delivery_error = models.TextField(blank=True, default="")
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tds_alerts"
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"],
                condition=~Q(status="resolved"),
                name="tds_alert_one_unresolved_per_code",
            )
        ]
        indexes = [
            models.Index(fields=["status", "severity"], name="tds_alert_status"),
            models.Index(
                fields=["id"], name="tds_alert_notify_pending", condition=Q(notify_pending=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.severity} ({self.status})"

    @property
    def channels_pending(self) -> list[str]:
        return [name for name in self.pending_channels.split(",") if name]


def open_first(alerts: models.QuerySet[Alert]) -> models.QuerySet[Alert]:
    """Open, then acknowledged, then resolved; critical before warning; latest first."""
    status_rank = models.Case(
        models.When(status=AlertStatus.OPEN, then=0),
        models.When(status=AlertStatus.ACKNOWLEDGED, then=1),
        default=2,
        output_field=models.IntegerField(),
    )
    severity_rank = models.Case(
        models.When(severity=Severity.CRITICAL, then=0),
        default=1,
        output_field=models.IntegerField(),
    )
    return alerts.order_by(status_rank, severity_rank, "-last_seen_at", "-id")
