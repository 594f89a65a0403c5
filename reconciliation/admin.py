"""Reconciliation runs in the operator console: what each pass saw and queued, read-only."""

from __future__ import annotations

from django.contrib import admin

from reconciliation.models import ReconciliationRun
from tds_site.admin_helpers import ReadOnlyAdmin


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "entity",
        "started_at",
        "finished_at",
        "succeeded",
        "seen",
        "missing",
        "stale",
        "queued",
    )
    list_filter = ("succeeded", "entity")
    date_hierarchy = "started_at"
    ordering = ("-started_at",)
    search_fields = ("error",)
