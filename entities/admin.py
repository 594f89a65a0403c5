"""Read-only lists of the ERP tables, to check what a sync wrote.

The tables belong to the sync: nothing here edits them. Links to other records are shown
by their Zoho ids (plain columns), so no list runs a query per row.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import Exists, OuterRef
from django.http import HttpRequest

from entities import models as erp
from entities.mappings import BY_ENTITY, MAPPINGS
from entities.models import DocumentMismatch
from tds_site.admin_helpers import ReadOnlyAdmin, RecordLinkMixin, pretty_json, record_link

_ENTITY_OF = {mapping.model: mapping.entity for mapping in MAPPINGS}

_SUMMARY = (
    "number",
    "name",
    "sku",
    "customer_zoho_id",
    "vendor_zoho_id",
    "date",
    "status",
    "currency_code",
    "total",
    "balance",
    "amount",
    "rate",
    "stock_on_hand",
    "reason",
    "adjustment_type",
)
_SEARCHABLE = ("number", "name", "sku")


class AddsUpFilter(admin.SimpleListFilter):
    """Documents (invoices, bills, credit notes, sales orders) by their totals check."""

    title = "totals"
    parameter_name = "adds_up"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return (("no", "do not add up"), ("yes", "add up"))

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() not in ("yes", "no"):
            return queryset
        flagged = DocumentMismatch.objects.filter(
            entity=_ENTITY_OF[queryset.model], record_id=OuterRef("zoho_id")
        )
        return queryset.filter(~Exists(flagged) if self.value() == "yes" else Exists(flagged))


class ErpRecordAdmin(ReadOnlyAdmin):
    ordering = ("-synced_at",)
    show_full_result_count = False

    def get_list_filter(self, request: HttpRequest) -> tuple:
        if BY_ENTITY[_ENTITY_OF[self.model]].checks_totals:
            return ("is_deleted", AddsUpFilter)
        return ("is_deleted",)

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        names = {f.name for f in self.opts.get_fields()}
        return ("timeline", *(n for n in _SUMMARY if n in names), "is_deleted", "synced_at")

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        names = {f.name for f in self.opts.get_fields()}
        return ("=zoho_id", *(n for n in _SEARCHABLE if n in names))

    def get_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        concrete = [
            f.name
            for f in self.opts.concrete_fields
            if f.name not in ("id", "raw") and not f.is_relation
        ]
        return ["timeline", *concrete, "raw_display"]

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None):
        return self.get_fields(request, obj)

    @admin.display(description="zoho id", ordering="zoho_id")
    def timeline(self, record: models.Model) -> str:
        """The Zoho id, linked to the record's timeline: every event and what it changed."""
        return record_link(_ENTITY_OF[type(record)], record.zoho_id)

    @admin.display(description="last payload")
    def raw_display(self, record: models.Model) -> str:
        return pretty_json(record.raw) if record.raw is not None else "-"


for _model in (
    erp.Product,
    erp.Customer,
    erp.Vendor,
    erp.Invoice,
    erp.Bill,
    erp.CreditNote,
    erp.SalesOrder,
    erp.Payment,
    erp.StockAdjustment,
    erp.PriceList,
):
    admin.site.register(_model, ErpRecordAdmin)


@admin.register(DocumentMismatch)
class DocumentMismatchAdmin(RecordLinkMixin, ReadOnlyAdmin):
    """Documents applied as Zoho sent them although they do not add up."""

    list_display = ("entity", "record", "reason", "detected_at")
    list_filter = ("entity",)
    search_fields = ("=record_id",)
    ordering = ("-detected_at",)
