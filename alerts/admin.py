"""The alerts in the operator console: filter, acknowledge, resolve.

Alerts are written by the monitor, so every field is read-only here. The list reads only the
alert rows themselves (no related objects), so it costs one query whatever its length.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from alerts.actions import acknowledge_alerts, resolve_alerts
from alerts.models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "code",
        "severity",
        "status",
        "message",
        "value",
        "threshold",
        "seen_count",
        "first_seen_at",
        "last_seen_at",
        "acknowledged_by",
        "delivery",
    )
    list_display_links = ("id", "code")
    list_filter = ("status", "severity", "code", "notify_pending")
    search_fields = ("message", "acknowledged_by", "resolved_by")
    date_hierarchy = "first_seen_at"
    ordering = ("-last_seen_at",)
    actions = ("acknowledge", "resolve")
    fieldsets = (
        (None, {"fields": ("code", "severity", "status", "message", "value", "threshold")}),
        ("Seen", {"fields": ("first_seen_at", "last_seen_at", "seen_count")}),
        (
            "Handled",
            {"fields": ("acknowledged_by", "acknowledged_at", "resolved_by", "resolved_at")},
        ),
        (
            "Notifications",
            {
                "fields": (
                    "notify_event",
                    "notified_severity",
                    "notified_status",
                    "notify_pending",
                    "pending_channels",
                    "notify_attempts",
                    "delivery_error",
                    "notified_at",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Alert | None = None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="notification")
    def delivery(self, alert: Alert) -> str:
        if alert.notify_pending:
            return f"pending: {alert.pending_channels}" + (
                " (failing)" if alert.delivery_error else ""
            )
        return "sent" if alert.notified_at else "-"

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset) -> None:
        count = acknowledge_alerts(queryset, request.user.get_username())
        self.message_user(request, f"Acknowledged {count} alert(s).", messages.SUCCESS)

    @admin.action(description="Resolve selected alerts", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset) -> None:
        count = resolve_alerts(queryset, request.user.get_username())
        self.message_user(
            request,
            f"Resolved {count} alert(s). A condition that still holds opens a new alert on the "
            "monitor's next run.",
            messages.SUCCESS,
        )
