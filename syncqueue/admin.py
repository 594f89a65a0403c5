"""The queue, its dead letters and its log in the operator console.

Object pages are read-only; what an operator changes goes through named actions, each of
them a function of ``syncqueue.operations`` that records the person (DeadLetter.replayed_by /
resolved_by, and Django's admin history).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from syncqueue import operations
from syncqueue.holds import release_record
from syncqueue.models import DeadLetter, QueueEntry, RecordEffect, RecordHold, SyncLog
from tds_site.admin_helpers import (
    ReadOnlyAdmin,
    RecordLinkMixin,
    actor_of,
    admin_link,
    changelist_link,
    pre,
    pretty_json,
)

CONFIRM_TEMPLATE = "admin/syncqueue/confirm_action.html"


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        help_text="Why; kept with the dead letter and in the admin history.",
    )


class AgeFilter(admin.SimpleListFilter):
    """How long ago the entry was accepted."""

    title = "age"
    parameter_name = "age"
    BANDS = {
        "1h": (None, timedelta(hours=1)),
        "24h": (timedelta(hours=1), timedelta(hours=24)),
        "7d": (timedelta(hours=24), timedelta(days=7)),
        "older": (timedelta(days=7), None),
    }

    def lookups(self, request, model_admin):
        return (
            ("1h", "under an hour"),
            ("24h", "1 to 24 hours"),
            ("7d", "1 to 7 days"),
            ("older", "over 7 days"),
        )

    def queryset(self, request, queryset):
        if self.value() not in self.BANDS:
            return queryset
        younger_than, older_than = self.BANDS[self.value()][1], self.BANDS[self.value()][0]
        now = timezone.now()
        if younger_than is not None:
            queryset = queryset.filter(created_at__gt=now - younger_than)
        if older_than is not None:
            queryset = queryset.filter(created_at__lte=now - older_than)
        return queryset


def _note_step(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    button: str,
) -> tuple[str | None, HttpResponse | None]:
    """The intermediate page of an action that needs a note: (note, None) once submitted."""
    form = NoteForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        return form.cleaned_data["note"], None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "objects": queryset[:50],
        "count": queryset.count(),
        "form": form,
        "action": action,
        "button": button,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return None, TemplateResponse(request, CONFIRM_TEMPLATE, context)


def _report(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    done: int,
    selected: int,
    what: str,
    why_not: str,
) -> None:
    """E.g. "1 failed entry due now; 2 not failed, left alone." (a warning if none was)."""
    entries = "entry" if done == 1 else "entries"
    skipped = selected - done
    model_admin.message_user(
        request,
        f"{done} {what.format(entries)}"
        + (f"; {skipped} {why_not}, left alone." if skipped else "."),
        messages.SUCCESS if done else messages.WARNING,
    )


def _attempts_table(logs: list[SyncLog]) -> str:
    if not logs:
        return "no attempt yet"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                log.attempt,
                log.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                log.outcome,
                f"{log.duration_ms} ms",
                log.worker,
                log.error or "",
            )
            for log in logs
        ),
    )
    return format_html(
        '<table class="tds-attempts"><thead><tr><th>#</th><th>at</th><th>outcome</th>'
        "<th>took</th><th>worker</th><th>error</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(QueueEntry)
class QueueEntryAdmin(RecordLinkMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "entity",
        "record",
        "operation",
        "status",
        "attempts",
        "source",
        "created_at",
        "age",
        "next_attempt_at",
        "short_error",
    )
    list_filter = ("status", "entity", AgeFilter, "source", "replayed")
    search_fields = ("=record_id",)
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("retry_now", "dead_letter")
    fields = (
        ("entity", "record_id", "operation", "source"),
        ("status", "outcome", "attempts", "lost_leases", "replayed"),
        ("created_at", "next_attempt_at", "completed_at", "updated_at"),
        ("locked_by", "locked_until"),
        "inbox_event_link",
        "dead_letter_link",
        "last_error_display",
        "attempts_table",
        "payload_display",
    )
    readonly_fields = flatten(fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[QueueEntry]:
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("payload")  # can be large; the list never shows it
        return queryset

    @admin.display(description="age", ordering="created_at")
    def age(self, entry: QueueEntry) -> str:
        return timesince(entry.created_at)

    @admin.display(description="last error")
    def short_error(self, entry: QueueEntry) -> str:
        return entry.last_error[:80]

    @admin.display(description="inbox event")
    def inbox_event_link(self, entry: QueueEntry) -> str:
        if entry.inbox_event_id is None:
            return f"none ({entry.source})"
        return admin_link("inbox.inboxevent", entry.inbox_event_id, f"#{entry.inbox_event_id}")

    @admin.display(description="dead letter")
    def dead_letter_link(self, entry: QueueEntry) -> str:
        dead = DeadLetter.objects.filter(entry_id=entry.pk).only("pk", "resolved").first()
        if dead is None:
            return "-"
        state = "resolved" if dead.resolved else "open"
        return admin_link("syncqueue.deadletter", dead.pk, f"#{dead.pk} ({state})")

    @admin.display(description="last error")
    def last_error_display(self, entry: QueueEntry) -> str:
        return pre(entry.last_error) if entry.last_error else "-"

    @admin.display(description="attempts")
    def attempts_table(self, entry: QueueEntry) -> str:
        # Logs point at entries by id (no foreign key); one query for all of them.
        logs = list(SyncLog.objects.filter(entry_id=entry.pk).order_by("attempt", "id"))
        link = changelist_link("syncqueue.synclog", f"entry_id={entry.pk}", "in the sync log")
        return format_html("{}<p>{}</p>", _attempts_table(logs), link)

    @admin.display(description="payload")
    def payload_display(self, entry: QueueEntry) -> str:
        return pretty_json(entry.payload)

    @admin.action(description="Retry now (failed entries)", permissions=["operate"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[QueueEntry]) -> None:
        count = operations.retry_now(queryset, actor=actor_of(request), user=request.user)
        _report(self, request, count, queryset.count(), "failed {} due now", "not failed")

    @admin.action(description="Dead-letter (give up on them)", permissions=["operate"])
    def dead_letter(self, request: HttpRequest, queryset: QuerySet[QueueEntry]):
        note, page = _note_step(
            self,
            request,
            queryset,
            action="dead_letter",
            title="Dead-letter these queue entries",
            button="Dead-letter them",
        )
        if page is not None:
            return page
        count = operations.give_up(queryset, actor=actor_of(request), note=note, user=request.user)
        _report(self, request, count, queryset.count(), "{} dead-lettered", "already finished")
        return None


class OpenFilter(admin.SimpleListFilter):
    """Unresolved dead letters unless asked otherwise: those are the ones to act on."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("resolved", "resolved"), ("all", "all"))

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "open",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(resolved=self.value() == "resolved")


@admin.register(DeadLetter)
class DeadLetterAdmin(RecordLinkMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "entity",
        "record",
        "operation",
        "short_error",
        "attempts",
        "dead_lettered_at",
        "replay_count",
        "replayed_by",
        "resolved",
        "resolved_by",
        "entry_status",
    )
    list_filter = (OpenFilter, "entity", "operation", "dead_lettered_at")
    list_select_related = ("entry",)
    search_fields = ("=record_id", "error")
    ordering = ("-dead_lettered_at", "-id")
    actions = ("replay_selected", "replay_matching", "mark_resolved")
    change_list_template = "admin/syncqueue/deadletter/change_list.html"
    fields = (
        ("entity", "record_id", "operation"),
        ("attempts", "created_at", "dead_lettered_at"),
        "entry_link",
        "error_display",
        "traceback_display",
        ("replay_count", "replayed_at", "replayed_by"),
        ("resolved", "resolved_at", "resolved_by"),
        "resolution_note",
        "payload_display",
    )
    readonly_fields = flatten(fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeadLetter]:
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("payload", "traceback", "entry__payload", "entry__last_error")
        return queryset

    def get_urls(self):
        own = [
            path(
                "replay-matching/",
                self.admin_site.admin_view(self.replay_matching_view),
                name="syncqueue_deadletter_replay_matching",
            )
        ]
        return own + super().get_urls()

    @admin.display(description="error")
    def short_error(self, dead: DeadLetter) -> str:
        return dead.error[:100]

    @admin.display(description="queue", ordering="entry__status")
    def entry_status(self, dead: DeadLetter) -> str:
        return dead.entry.status

    @admin.display(description="queue entry")
    def entry_link(self, dead: DeadLetter) -> str:
        return format_html(
            "{} &middot; {}",
            admin_link("syncqueue.queueentry", dead.entry_id, f"#{dead.entry_id}"),
            changelist_link("syncqueue.synclog", f"entry_id={dead.entry_id}", "its attempts"),
        )

    @admin.display(description="error")
    def error_display(self, dead: DeadLetter) -> str:
        return pre(dead.error)

    @admin.display(description="traceback")
    def traceback_display(self, dead: DeadLetter) -> str:
        return pre(dead.traceback) if dead.traceback else "-"

    @admin.display(description="payload")
    def payload_display(self, dead: DeadLetter) -> str:
        return pretty_json(dead.payload)

    def _replayed(self, request: HttpRequest, count: int, asked: int) -> None:
        self.message_user(
            request,
            f"{count} dead letter{'s' if count != 1 else ''} put back in the queue"
            + (f"; {asked - count} already resolved, left alone." if asked > count else "."),
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.action(description="Replay selected", permissions=["operate"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        count = operations.replay(queryset, actor=actor_of(request), user=request.user)
        self._replayed(request, count, queryset.count())

    @admin.action(description="Replay all matching the current filter", permissions=["operate"])
    def replay_matching(self, request: HttpRequest, queryset: QuerySet[DeadLetter]):
        # The selection only starts it: the confirmation page acts on the whole filter.
        url = reverse("admin:syncqueue_deadletter_replay_matching")
        return HttpResponseRedirect(f"{url}?{request.GET.urlencode()}")

    def replay_matching_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm, then replay every dead letter the changelist shows with these filters."""
        if not self.has_operate_permission(request):
            raise PermissionDenied
        matching = self.get_changelist_instance(request).get_queryset(request)
        back = reverse("admin:syncqueue_deadletter_changelist") + "?" + request.GET.urlencode()
        if request.method == "POST":
            count = operations.replay(matching, actor=actor_of(request), user=request.user)
            self._replayed(request, count, count)
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": "Replay all dead letters matching the filter",
            "opts": self.opts,
            "objects": matching[:50],
            "count": matching.count(),
            "open_count": matching.filter(resolved=False).count(),
            "button": "Replay them",
            "cancel_url": back,
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

    @admin.action(description="Mark resolved (with a note)", permissions=["operate"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[DeadLetter]):
        note, page = _note_step(
            self,
            request,
            queryset,
            action="mark_resolved",
            title="Mark these dead letters resolved",
            button="Mark resolved",
        )
        if page is not None:
            return page
        count = operations.resolve(queryset, actor=actor_of(request), note=note, user=request.user)
        self.message_user(
            request, f"{count} dead letter{'s' if count != 1 else ''} marked resolved."
        )
        return None


@admin.register(SyncLog)
class SyncLogAdmin(RecordLinkMixin, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "entry",
        "entity",
        "record",
        "operation",
        "attempt",
        "outcome",
        "duration_ms",
        "latency_ms",
        "worker",
        "short_error",
    )
    list_filter = ("outcome", "entity", "created_at")
    search_fields = ("=record_id",)
    ordering = ("-created_at", "-id")
    show_full_result_count = False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # ?entry_id=N is how the other pages link to an event's attempts.
        return lookup == "entry_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="entry", ordering="entry_id")
    def entry(self, log: SyncLog) -> str:
        return admin_link("syncqueue.queueentry", log.entry_id, f"#{log.entry_id}")

    @admin.display(description="error")
    def short_error(self, log: SyncLog) -> str:
        return log.error[:100]


@admin.register(RecordHold)
class RecordHoldAdmin(RecordLinkMixin, ReadOnlyAdmin):
    """Held records; releasing one lets its waiting events apply in order."""

    list_display = ("entity", "record", "held_at", "held_by", "reason", "waiting")
    list_filter = ("entity",)
    search_fields = ("=record_id",)
    ordering = ("-held_at",)
    actions = ("release",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordHold]:
        # One query for the page, not one count per held record.
        waiting = (
            QueueEntry.objects.unfinished()
            .filter(entity=OuterRef("entity"), record_id=OuterRef("record_id"))
            .order_by()
            .values("entity")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(waiting=Coalesce(Subquery(waiting), 0))

    @admin.display(description="events waiting", ordering="waiting")
    def waiting(self, hold: RecordHold) -> int:
        return hold.waiting

    @admin.action(description="Release selected records", permissions=["operate"])
    def release(self, request: HttpRequest, queryset: QuerySet[RecordHold]) -> None:
        released = sum(release_record(hold.entity, hold.record_id) for hold in queryset)
        self.message_user(request, f"{released} record{'s' if released != 1 else ''} released.")


@admin.register(RecordEffect)
class RecordEffectAdmin(RecordLinkMixin, ReadOnlyAdmin):
    """The effect ledger: what each applied event changed (kept LEDGER_RETENTION_DAYS)."""

    list_display = ("id", "entity", "record", "operation", "applied_at", "changed_columns")
    list_filter = ("entity", "operation", "applied_at")
    search_fields = ("=record_id",)
    ordering = ("-id",)
    show_full_result_count = False
    fields = (
        ("entity", "record_id", "operation"),
        ("entry_id", "inbox_event_id", "applied_at"),
        "changes_display",
    )

    @admin.display(description="changed")
    def changed_columns(self, effect: RecordEffect) -> str:
        return ", ".join(sorted(effect.changes)) or "nothing"

    @admin.display(description="changes")
    def changes_display(self, effect: RecordEffect) -> str:
        return pretty_json(effect.changes)
