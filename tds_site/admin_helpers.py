"""Pieces every app's admin classes share: read-only display, pretty JSON, CSV export."""

from __future__ import annotations

import csv
import itertools
import json

from django.contrib import admin
from django.db.models import BinaryField, Field, JSONField, Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString


def pre(text: str) -> SafeString:
    """Text an operator must read whole (JSON, tracebacks), wrapped and escaped."""
    return format_html(
        '<pre class="tds-pre" style="white-space: pre-wrap; margin: 0">{}</pre>', text
    )


def pretty_json(value: object) -> SafeString:
    return pre(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def admin_link(model_label: str, pk: object, text: str) -> SafeString:
    """A link to an object's admin page, built without loading the object."""
    app_label, model_name = model_label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, text)


def changelist_link(model_label: str, query: str, text: str) -> SafeString:
    app_label, model_name = model_label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


def record_link(entity: str, record_id: str) -> SafeString | str:
    """A record id linked to its timeline in the console (``records.admin_views``)."""
    if not entity or not record_id:  # a rejected webhook may name no record
        return record_id or "-"
    url = reverse("admin-record-timeline", args=[entity, record_id])
    return format_html('<a href="{}" title="its timeline">{}</a>', url, record_id)


class RecordLinkMixin:
    """For admins of rows that name a record (``entity``, ``record_id``): their lists show
    ``record``, the id linked to the record's timeline."""

    @admin.display(description="record id", ordering="record_id")
    def record(self, row: Model) -> SafeString | str:
        return record_link(row.entity, row.record_id)


def actor_of(request: HttpRequest) -> str:
    """How the console names a person in DeadLetter.replayed_by / resolved_by."""
    return f"{request.user.get_username()} (admin)"[:150]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History nobody edits by hand: viewing only; changes go through named actions.

    ``has_operate_permission`` (the model's change permission) is what the actions require,
    so object pages stay read-only while staff with that permission can still act.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        codename = f"{opts.app_label}.change_{opts.model_name}"
        return request.user.is_active and request.user.is_staff and request.user.has_perm(codename)


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_value(field: Field, obj: Model) -> object:
    value = getattr(obj, field.attname)
    if isinstance(field, JSONField):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


@admin.action(description="Export selected as CSV")
def export_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    """Every column of the selected rows (all rows of the current filter after "select
    all"), streamed a row at a time: no list is too long to export."""
    model = queryset.model
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, BinaryField)]
    writer = csv.writer(_Echo())
    rows = (
        writer.writerow([_csv_value(f, obj) for f in fields])
        for obj in queryset.order_by("pk").iterator(chunk_size=2000)
    )
    header = writer.writerow([f.column for f in fields])
    response = StreamingHttpResponse(itertools.chain([header], rows), content_type="text/csv")
    name = f"{model._meta.db_table}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
