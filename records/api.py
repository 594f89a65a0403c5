"""A record's timeline, and holding or releasing it (CONTRACT §6). Staff only, like every
dashboard endpoint (the project's default authentication and permission)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from entities.mappings import BY_ENTITY
from records.timeline import Timeline, record_timeline
from syncqueue.api import request_actor
from syncqueue.holds import hold_record, is_held, release_record


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    at = serializers.DateTimeField()
    outcome = serializers.CharField()
    error = serializers.CharField()
    duration_ms = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=False)
    worker = serializers.CharField()


class DeadLetterStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    error = serializers.CharField()
    dead_lettered_at = serializers.DateTimeField()
    replay_count = serializers.IntegerField()
    replayed_by = serializers.CharField()
    resolved = serializers.BooleanField()
    resolved_by = serializers.CharField()
    resolution_note = serializers.CharField()


class EventSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    received_at = serializers.DateTimeField(
        allow_null=True, help_text="Null once the queue entry is purged."
    )
    source = serializers.CharField(allow_blank=True)
    operation = serializers.CharField()
    status = serializers.CharField()
    purged = serializers.BooleanField(
        help_text="The queue entry is gone (INBOX_RETENTION_DAYS); the effect ledger remains."
    )
    attempts = AttemptSerializer(many=True)
    dead_letter = DeadLetterStateSerializer(allow_null=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(),
        allow_null=True,
        help_text='column: [before, after]; "lines": [summary before, summary after]. '
        "Null when the event changed nothing (not applied, or stale).",
    )


class TimelineSerializer(serializers.Serializer):
    entity = serializers.CharField()
    zoho_id = serializers.CharField()
    held = serializers.BooleanField()
    erp = serializers.DictField(allow_null=True, help_text="The ERP row, or null.")
    events = EventSerializer(many=True, help_text="In order of receipt.")


class HoldStateSerializer(serializers.Serializer):
    entity = serializers.CharField()
    zoho_id = serializers.CharField()
    held = serializers.BooleanField()


ENTITY = OpenApiParameter(
    "entity", str, OpenApiParameter.PATH, enum=sorted(BY_ENTITY), description="The ERP entity."
)
ZOHO_ID = OpenApiParameter("zoho_id", str, OpenApiParameter.PATH, description="Zoho's id.")
UNKNOWN_ENTITY = OpenApiResponse(description="An entity TDS Core does not sync.")


def _known_entity(entity: str) -> None:
    if entity not in BY_ENTITY:
        raise NotFound(f"unknown entity {entity!r}; one of: {', '.join(sorted(BY_ENTITY))}")


class RecordTimelineView(APIView):
    @extend_schema(
        summary="A record's timeline: its ERP row and every event received for it",
        parameters=[ENTITY, ZOHO_ID],
        responses={
            200: TimelineSerializer,
            404: OpenApiResponse(description="An unknown entity, or nothing known of it."),
        },
    )
    def get(self, request: Request, entity: str, zoho_id: str) -> Response:
        _known_entity(entity)
        timeline: Timeline = record_timeline(entity, zoho_id)
        if not timeline.known:
            raise NotFound(f"nothing is known of {entity} {zoho_id!r}")
        return Response(TimelineSerializer(timeline).data)


class RecordHoldView(APIView):
    @extend_schema(
        request=None,
        summary="Hold a record: its events are queued but not applied until released",
        parameters=[ENTITY, ZOHO_ID],
        responses={200: HoldStateSerializer, 404: UNKNOWN_ENTITY},
    )
    def post(self, request: Request, entity: str, zoho_id: str) -> Response:
        _known_entity(entity)
        hold_record(entity, zoho_id, actor=request_actor(request))
        return Response({"entity": entity, "zoho_id": zoho_id, "held": True})


class RecordReleaseView(APIView):
    @extend_schema(
        request=None,
        summary="Release a held record: its waiting events apply in order",
        parameters=[ENTITY, ZOHO_ID],
        responses={200: HoldStateSerializer, 404: UNKNOWN_ENTITY},
    )
    def post(self, request: Request, entity: str, zoho_id: str) -> Response:
        _known_entity(entity)
        release_record(entity, zoho_id)
        return Response({"entity": entity, "zoho_id": zoho_id, "held": is_held(entity, zoho_id)})
