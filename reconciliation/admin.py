"""Reconciliation in the operator console, read-only: what each pass saw and queued, how
far the import got, and the API calls spent per day."""

from __future__ import annotations

from django.contrib import admin

from reconciliation.models import ApiUsage, ImportCheckpoint, ReconciliationRun
from tds_site.admin_helpers import ReadOnlyAdmin


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "entity",
        "kind",
        "started_at",
        "finished_at",
        "succeeded",
        "seen",
        "missing",
        "stale",
        "deleted",
        "queued",
    )
    list_filter = ("succeeded", "kind", "entity")
    date_hierarchy = "started_at"
    ordering = ("-started_at",)
    search_fields = ("error",)


@admin.register(ImportCheckpoint)
class ImportCheckpointAdmin(ReadOnlyAdmin):
    list_display = (
        "module",
        "next_page",
        "pages_done",
        "records_seen",
        "queued",
        "started_at",
        "updated_at",
        "finished_at",
    )
    ordering = ("module",)


@admin.register(ApiUsage)
class ApiUsageAdmin(ReadOnlyAdmin):
    list_display = ("day", "used")
    ordering = ("-day",)
