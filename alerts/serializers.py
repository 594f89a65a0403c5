"""JSON shapes of the alert endpoints (also what the OpenAPI document describes)."""

from __future__ import annotations

from rest_framework import serializers

from alerts.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    value = serializers.DecimalField(max_digits=20, decimal_places=4, coerce_to_string=False)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=4, coerce_to_string=False)
    pending_channels = serializers.ListField(
        source="channels_pending", child=serializers.CharField(), read_only=True
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "code",
            "severity",
            "status",
            "message",
            "value",
            "threshold",
            "first_seen_at",
            "last_seen_at",
            "seen_count",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_at",
            "resolved_by",
            "notify_pending",
            "pending_channels",
            "delivery_error",
            "notified_at",
        ]
        read_only_fields = fields


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
