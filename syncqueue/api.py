"""The operator dashboard API (CONTRACT §6): queue stats and dead letters.

Views only translate HTTP; the work is in ``syncqueue.stats`` and ``syncqueue.operations``.
Authentication and permission are the project defaults: a token or a session of a staff
user (anyone else gets 401 or 403).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import ISO_8601, generics, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from syncqueue.models import DeadLetter, Status
from syncqueue.operations import replay
from syncqueue.replay import ReplaySource, ReplayUnavailable, preview_replay
from syncqueue.stats import queue_figures


class StatusCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    processing = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    dead_letter = serializers.IntegerField()


class QueueFiguresSerializer(serializers.Serializer):
    """``syncqueue.stats.QueueFigures``: here, and as the ``queue`` of /dashboard/metrics."""

    by_status = StatusCountsSerializer()
    by_entity = serializers.DictField(
        child=StatusCountsSerializer(), help_text="Counts by status for each entity."
    )
    claimable = serializers.IntegerField(
        help_text="Entries a worker could claim now: due, and first of their record's events."
    )
    oldest_pending_age_seconds = serializers.DecimalField(
        max_digits=None,
        decimal_places=3,
        coerce_to_string=False,
        allow_null=True,
        help_text="How long the oldest pending entry has waited (a replayed one: since its "
        "replay); null when none is pending.",
    )
    stuck = serializers.IntegerField(
        help_text="Entries in processing past their lease or STUCK_EVENT_MINUTES."
    )
    dead_letters_unresolved = serializers.IntegerField()
    workers_live = serializers.IntegerField(help_text="Workers that beat recently.")
    held_records = serializers.IntegerField(
        help_text="Records an operator holds: their events wait until released."
    )


class DeadLetterSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "entry_id",
            "entity",
            "record_id",
            "operation",
            "error",
            "attempts",
            "payload",
            "created_at",
            "dead_lettered_at",
            "replay_count",
            "replayed_at",
            "replayed_by",
        ]


class DeadLetterFilterSerializer(serializers.Serializer):
    """The dead-letter list's query parameters; a bad one is a 400 that names it."""

    entity = serializers.CharField(
        required=False, allow_blank=True, help_text="Only this entity, e.g. invoices."
    )
    since = serializers.DateTimeField(
        required=False,
        input_formats=[ISO_8601, "%Y-%m-%d"],  # a date means its midnight
        error_messages={"invalid": "use an ISO date or date-time, e.g. 2025-03-01"},
        help_text="Only those dead-lettered at or after this ISO date or date-time "
        "(one without an offset is in the server's TIME_ZONE, UTC).",
    )


class ReplayedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    replayed = serializers.BooleanField()
    status = serializers.CharField(help_text="The queue entry's status after the replay.")
    source = serializers.ChoiceField(choices=ReplaySource.choices)


class ReplayRequestSerializer(serializers.Serializer):
    """The optional body of a replay; an empty body replays as received."""

    source = serializers.ChoiceField(
        choices=ReplaySource.choices,
        default=ReplaySource.RECEIVED,
        help_text="received: the payload Zoho sent (kept in the dead letter); zoho: the "
        "record as Zoho has it now, fetched with the reconciliation credentials.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Show the ERP change the replay would make; change nothing."
    )


class ReplayPreviewSerializer(serializers.Serializer):
    """``syncqueue.replay.ReplayPreview``."""

    id = serializers.IntegerField(source="dead_letter_id")
    source = serializers.ChoiceField(choices=ReplaySource.choices)
    dry_run = serializers.BooleanField(default=True)
    operation = serializers.CharField(source="event.operation", allow_null=True, default=None)
    changes = serializers.DictField(
        child=serializers.ListField(),
        allow_null=True,
        help_text='column: [before, after]; "lines": [summary before, summary after].',
    )
    stale = serializers.BooleanField(help_text="The ERP holds newer data: nothing would change.")
    error = serializers.CharField(allow_blank=True, help_text="Why the replay would fail.")


def request_actor(request: Request) -> str:
    """How the API names the person behind a change (replayed_by, held_by)."""
    via = "token" if request.auth is not None else "session"
    return f"{request.user.get_username()} ({via})"[:150]


class QueueStatsView(APIView):
    @extend_schema(responses=QueueFiguresSerializer, summary="Queue counts and oldest pending age")
    def get(self, request: Request) -> Response:
        return Response(QueueFiguresSerializer(queue_figures()).data)


class DeadLetterPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class DeadLetterListView(generics.ListAPIView):
    serializer_class = DeadLetterSerializer
    pagination_class = DeadLetterPagination

    @extend_schema(
        summary="Unresolved dead letters, newest first",
        responses={
            200: DeadLetterSerializer(many=True),
            404: OpenApiResponse(description="A page past the last one."),
        },
        parameters=[DeadLetterFilterSerializer],
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[DeadLetter]:
        filters = DeadLetterFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = DeadLetter.objects.filter(resolved=False).order_by("-dead_lettered_at", "-id")
        if entity := filters.validated_data.get("entity"):
            queryset = queryset.filter(entity=entity)
        if since := filters.validated_data.get("since"):
            queryset = queryset.filter(dead_lettered_at__gte=since)
        return queryset


class DeadLetterReplayView(APIView):
    @extend_schema(
        request=ReplayRequestSerializer,
        summary="Put one dead letter's event back in the queue, or show what that would do",
        responses={
            202: ReplayedSerializer,
            200: OpenApiResponse(ReplayPreviewSerializer, description="A dry run."),
            400: OpenApiResponse(description="A bad source or dry_run."),
            404: OpenApiResponse(description="No such dead letter."),
            409: OpenApiResponse(description="Already resolved; nothing to replay."),
            502: OpenApiResponse(description="Zoho's current record could not be fetched."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        asked = ReplayRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        source, dry_run = asked.validated_data["source"], asked.validated_data["dry_run"]
        dead = get_object_or_404(DeadLetter.objects.select_related("entry"), pk=pk)
        if dead.resolved:
            return Response(
                {"error": f"dead letter {pk} is already resolved"}, status.HTTP_409_CONFLICT
            )
        if dry_run:
            return Response(ReplayPreviewSerializer(preview_replay(dead, source)).data)
        try:
            replay(
                DeadLetter.objects.filter(pk=pk),
                actor=request_actor(request),
                user=request.user,
                source=source,
            )
        except ReplayUnavailable as error:
            return Response({"error": str(error)}, status.HTTP_502_BAD_GATEWAY)
        dead.entry.refresh_from_db(fields=["status"])
        body = {
            "id": pk,
            "replayed": dead.entry.status == Status.PENDING,
            "status": dead.entry.status,
            "source": source,
        }
        return Response(body, status.HTTP_202_ACCEPTED)
