"""Read-only lists of the ERP tables, to check what a sync wrote.

The tables belong to the sync: nothing here edits them. Links to other records are shown
by their Zoho ids (plain columns), so no list runs a query per row.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from entities import models as erp
from entities.mappings import MAPPINGS
from tds_site.admin_helpers import ReadOnlyAdmin, pretty_json, record_link

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


class ErpRecordAdmin(ReadOnlyAdmin):
    list_filter = ("is_deleted",)
    ordering = ("-synced_at",)
    show_full_result_count = False

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
