"""The JSON shape of GET /dashboard/metrics (also what the OpenAPI document describes)."""

from __future__ import annotations

from rest_framework import serializers

from alerts.serializers import AlertSerializer
from syncqueue.api import QueueFiguresSerializer


def _number(places: int = 4) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=None, decimal_places=places, coerce_to_string=False, allow_null=True
    )


class ThroughputSerializer(serializers.Serializer):
    applied_last_5m = serializers.IntegerField()
    applied_last_hour = serializers.IntegerField()
    per_minute_last_5m = _number(2)
    per_minute_last_hour = _number(2)


class LatencySerializer(serializers.Serializer):
    window_seconds = serializers.IntegerField()
    samples = serializers.IntegerField()
    p50_ms = _number(3)
    p99_ms = _number(3)


class FailureWindowSerializer(serializers.Serializer):
    window_seconds = serializers.IntegerField()
    attempts = serializers.IntegerField()
    failed = serializers.IntegerField()


class DashboardMetricsSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    queue = QueueFiguresSerializer()
    throughput = ThroughputSerializer()
    failure_rate = _number(4)
    failures = FailureWindowSerializer()
    latency = LatencySerializer()
    workers_live = serializers.IntegerField()
    open_alerts_by_severity = serializers.DictField(child=serializers.IntegerField())
    open_alerts = AlertSerializer(many=True)
