"""JSON shapes of the alert endpoints (also what the OpenAPI document describes)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import Alert, AlertStatus, Code


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


@extend_schema_field(OpenApiTypes.STR)
class ChoiceListField(serializers.Field):
    """A comma list of choices, e.g. ``open,acknowledged``; an unknown one is refused."""

    def __init__(self, choices: list[str], **kwargs) -> None:
        self.choices = choices
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> list[str]:
        if not isinstance(data, str):
            self.fail("invalid")
        values = [value for value in data.split(",") if value]
        unknown = [value for value in values if value not in self.choices]
        if unknown:
            raise serializers.ValidationError(
                f"unknown {', '.join(unknown)}; use a comma list of {', '.join(self.choices)}"
            )
        return values

    def to_representation(self, value: list[str]) -> str:
        return ",".join(value)


class AlertFilterSerializer(serializers.Serializer):
    """The alert list's query parameters; a bad one is a 400 that names it."""

    status = ChoiceListField(
        AlertStatus.values,
        required=False,
        help_text=f"Only these, a comma list of {', '.join(AlertStatus.values)}.",
    )
    code = ChoiceListField(
        Code.values,
        required=False,
        help_text=f"Only these, a comma list of {', '.join(Code.values)}.",
    )
