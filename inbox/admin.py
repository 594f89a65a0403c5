"""The inbox in the operator console: every webhook as it arrived, searchable, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import (
    BinaryField,
    BooleanField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast
from django.http import HttpRequest

from inbox.models import InboxEvent
from syncqueue.models import QueueEntry
from tds_site.admin_helpers import (
    ReadOnlyAdmin,
    RecordLinkMixin,
    admin_link,
    changelist_link,
    pre,
    pretty_json,
)


class ContainsBytes(Func):
    """``haystack`` (a binary column) contains ``needle`` (bytes), byte for byte.

    Works on any body, even one that is not valid UTF-8 (a rejected webhook may not be),
    where converting the column to text would fail on PostgreSQL.
    """

    output_field = BooleanField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):  # SQLite: INSTR works on BLOBs
        haystack, needle = (compiler.compile(e) for e in self.source_expressions)
        return f"(INSTR({haystack[0]}, {needle[0]}) > 0)", (*haystack[1], *needle[1])

    def as_postgresql(self, compiler, connection, **extra):
        haystack, needle = (compiler.compile(e) for e in self.source_expressions)
        return f"(POSITION({needle[0]} IN {haystack[0]}) > 0)", (*needle[1], *haystack[1])


def inbox_search(term: str) -> Q:
    """Events matching ``term``: record id, entity, idempotency key, event id or payload text.

    The payload is matched two ways, so that a search finds what an operator sees: case-
    insensitively in the queued record (its JSON as text), and byte for byte in the raw
    body, which also covers rejected events that have no queue entry.
    """
    in_payload = QueueEntry.objects.annotate(text=Cast("payload", TextField())).filter(
        inbox_event_id=OuterRef("pk"), text__icontains=term
    )
    in_body = ContainsBytes(F("raw_body"), Value(term.encode(), output_field=BinaryField()))
    match = (
        Q(record_id=term)
        | Q(entity=term)
        | Q(idempotency_key=term)
        | Q(Exists(in_payload))
        | Q(in_body)
    )
    if term.isdigit():
        match |= Q(pk=int(term))
    return match


@admin.register(InboxEvent)
class InboxEventAdmin(RecordLinkMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "entity",
        "record",
        "operation",
        "auth_method",
        "validity",
        "queue_status",
    )
    list_filter = ("validity", "entity", "operation", "auth_method")
    search_fields = ("record_id",)  # shows the box; the search itself is inbox_search()
    search_help_text = "Record id, entity, idempotency key, event id, or text in the payload."
    ordering = ("-id",)
    show_full_result_count = False  # a COUNT(*) over the whole inbox on every page is wasted
    fieldsets = (
        (None, {"fields": ("received_at", "entity", "record_id", "operation", "event_type")}),
        ("Processing", {"fields": ("queue_entry_link", "sync_logs_link")}),
        ("Validity", {"fields": ("validity", "rejection_reason")}),
        ("Payload", {"fields": ("payload_display", "params_display")}),
        (
            "Request",
            {
                "fields": (
                    "method",
                    "path",
                    "content_type",
                    "auth_method",
                    "remote_addr",
                    "request_id",
                    "idempotency_key",
                    "dedup_key",
                    "content_hash",
                    "headers_display",
                )
            },
        ),
    )
    # Every shown field is read-only: the inbox is a record of what arrived.
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboxEvent]:
        # The queue status column comes from a subquery, not a query per row; the body is
        # only needed on the detail page.
        status = QueueEntry.objects.filter(inbox_event_id=OuterRef("pk")).values("status")[:1]
        queryset = super().get_queryset(request).annotate(queue_status_value=Subquery(status))
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("raw_body", "headers", "params")
        return queryset

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(inbox_search(term)), False

    @admin.display(description="queue", ordering="queue_status_value")
    def queue_status(self, event: InboxEvent) -> str:
        return event.queue_status_value or "-"

    @admin.display(description="queue entry")
    def queue_entry_link(self, event: InboxEvent) -> str:
        entry = QueueEntry.objects.filter(inbox_event_id=event.pk).only("pk", "status").first()
        if entry is None:
            return "none (rejected, or purged)" if event.validity == "rejected" else "none"
        return admin_link("syncqueue.queueentry", entry.pk, f"#{entry.pk} ({entry.status})")

    @admin.display(description="sync logs")
    def sync_logs_link(self, event: InboxEvent) -> str:
        entry_id = (
            QueueEntry.objects.filter(inbox_event_id=event.pk).values_list("pk", flat=True).first()
        )
        if entry_id is None:
            return "-"
        return changelist_link(
            "syncqueue.synclog", f"entry_id={entry_id}", "attempts of this event"
        )

    @admin.display(description="body")
    def payload_display(self, event: InboxEvent) -> str:
        return pre(event.pretty_body)

    @admin.display(description="parameters")
    def params_display(self, event: InboxEvent) -> str:
        return pretty_json(event.params) if event.params else "-"

    @admin.display(description="headers")
    def headers_display(self, event: InboxEvent) -> str:
        return pretty_json(event.headers)
