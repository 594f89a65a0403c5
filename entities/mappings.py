"""One declarative mapping per Zoho module: id field, table, columns, lines, links.

The generic engine (``entities.engine``) applies any of them; adding a module is a model
and a few lines here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from entities import models as erp
from entities.fields import Source, contact_detail, day, money, text, zoho_id


@dataclass(frozen=True)
class Link:
    """A foreign key filled from a Zoho id when that record is already in the ERP."""

    fk_column: str  # e.g. "customer_id"
    zoho_column: str  # e.g. "customer_zoho_id"
    target: type[models.Model]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Lines:
    key: str  # the record's array, e.g. "line_items"
    model: type[models.Model]
    parent_column: str  # e.g. "invoice_id"
    columns: dict[str, Source]
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, eq=False)
class EntityMapping:
    entity: str  # the URL name, e.g. "credit-notes"
    module: str  # Zoho's module key, e.g. "creditnote"
    id_field: str  # e.g. "creditnote_id"
    model: type[models.Model]
    columns: dict[str, Source]
    links: tuple[Link, ...] = ()
    lines: Lines | None = None
    contact_type: str | None = None  # contacts split into customers / vendors
    checks_totals: bool = False  # a document whose lines and charges must add up to its total

    @property
    def table(self) -> str:
        return self.model._meta.db_table


PRODUCT_LINK = Link("product_id", "item_zoho_id", erp.Product)
CUSTOMER_LINK = Link("customer_id", "customer_zoho_id", erp.Customer)


def document_lines(model: type[models.Model], parent_column: str) -> Lines:
    return Lines(
        key="line_items",
        model=model,
        parent_column=parent_column,
        columns={
            "line_zoho_id": zoho_id("line_item_id"),
            "item_zoho_id": zoho_id("item_id"),
            "name": text("name"),
            "quantity": money("quantity"),
            "rate": money("rate"),
            "item_total": money("item_total"),
        },
        links=(PRODUCT_LINK,),
    )


def contact_columns() -> dict[str, Source]:
    return {
        "name": text("contact_name"),
        "company_name": text("company_name"),
        "email": contact_detail("email"),
        "phone": contact_detail("phone"),
        "currency_code": text("currency_code"),
        "status": text("status"),
    }


def document_columns(number_field: str, **extra: Source) -> dict[str, Source]:
    return {
        "number": text(number_field),
        "date": day("date"),
        "status": text("status"),
        "currency_code": text("currency_code"),
        "total": money("total"),
        **extra,
    }


MAPPINGS: tuple[EntityMapping, ...] = (
    EntityMapping(
        entity="products",
        module="item",
        id_field="item_id",
        model=erp.Product,
        columns={
            "name": text("name"),
            "sku": text("sku"),
            "rate": money("rate"),
            "purchase_rate": money("purchase_rate"),
            "unit": text("unit"),
            "status": text("status"),
            "stock_on_hand": money("stock_on_hand"),
        },
    ),
    EntityMapping(
        entity="customers",
        module="contact",
        id_field="contact_id",
        model=erp.Customer,
        columns=contact_columns(),
        contact_type="customer",
    ),
    EntityMapping(
        entity="vendors",
        module="contact",
        id_field="contact_id",
        model=erp.Vendor,
        columns=contact_columns(),
        contact_type="vendor",
    ),
    EntityMapping(
        entity="invoices",
        module="invoice",
        id_field="invoice_id",
        model=erp.Invoice,
        columns=document_columns(
            "invoice_number",
            customer_zoho_id=zoho_id("customer_id"),
            due_date=day("due_date"),
            balance=money("balance"),
        ),
        links=(CUSTOMER_LINK,),
        lines=document_lines(erp.InvoiceLine, "invoice_id"),
        checks_totals=True,
    ),
    EntityMapping(
        entity="bills",
        module="bill",
        id_field="bill_id",
        model=erp.Bill,
        columns=document_columns(
            "bill_number",
            vendor_zoho_id=zoho_id("vendor_id"),
            due_date=day("due_date"),
            balance=money("balance"),
        ),
        links=(Link("vendor_id", "vendor_zoho_id", erp.Vendor),),
        lines=document_lines(erp.BillLine, "bill_id"),
        checks_totals=True,
    ),
    EntityMapping(
        entity="credit-notes",
        module="creditnote",
        id_field="creditnote_id",
        model=erp.CreditNote,
        columns=document_columns(
            "creditnote_number",
            customer_zoho_id=zoho_id("customer_id"),
            balance=money("balance"),
        ),
        links=(CUSTOMER_LINK,),
        lines=document_lines(erp.CreditNoteLine, "credit_note_id"),
        checks_totals=True,
    ),
    EntityMapping(
        entity="sales-orders",
        module="salesorder",
        id_field="salesorder_id",
        model=erp.SalesOrder,
        columns=document_columns("salesorder_number", customer_zoho_id=zoho_id("customer_id")),
        links=(CUSTOMER_LINK,),
        lines=document_lines(erp.SalesOrderLine, "sales_order_id"),
        checks_totals=True,
    ),
    EntityMapping(
        entity="payments",
        module="payment",
        id_field="payment_id",
        model=erp.Payment,
        columns={
            "number": text("payment_number"),
            "customer_zoho_id": zoho_id("customer_id"),
            "date": day("date"),
            "amount": money("amount"),
            "payment_mode": text("payment_mode"),
            "reference_number": text("reference_number"),
        },
        links=(CUSTOMER_LINK,),
    ),
    EntityMapping(
        entity="stock-adjustments",
        module="inventory_adjustment",
        id_field="inventory_adjustment_id",
        model=erp.StockAdjustment,
        columns={
            "date": day("date"),
            "reason": text("reason"),
            "adjustment_type": text("adjustment_type"),
        },
        lines=Lines(
            key="line_items",
            model=erp.StockAdjustmentLine,
            parent_column="stock_adjustment_id",
            columns={
                "item_zoho_id": zoho_id("item_id"),
                "name": text("name"),
                "quantity_adjusted": money("quantity_adjusted"),
            },
            links=(PRODUCT_LINK,),
        ),
    ),
    EntityMapping(
        entity="price-lists",
        module="pricebook",
        id_field="pricebook_id",
        model=erp.PriceList,
        columns={
            "name": text("name"),
            "currency_code": text("currency_code"),
            "status": text("status"),
        },
        lines=Lines(
            key="pricebook_items",
            model=erp.PriceListItem,
            parent_column="price_list_id",
            columns={
                "item_zoho_id": zoho_id("item_id"),
                "name": text("name"),
                "rate": money("pricebook_rate"),
            },
            links=(PRODUCT_LINK,),
        ),
    ),
)

BY_ENTITY: dict[str, EntityMapping] = {m.entity: m for m in MAPPINGS}
MODULE_KEYS: frozenset[str] = frozenset(m.module for m in MAPPINGS)
# The webhook paths: every entity, plus `contacts`, routed by the payload's contact_type.
CONTACTS = "contacts"
WEBHOOK_ENTITIES: frozenset[str] = frozenset(BY_ENTITY) | {CONTACTS}


@dataclass(frozen=True)
class Backfill:
    """Where a newly synced record fills links that were waiting for it."""

    table: str
    fk_column: str
    zoho_column: str


def backfills_for(target: type[models.Model]) -> tuple[Backfill, ...]:
    found: list[Backfill] = []
    for mapping in MAPPINGS:
        for owner, links in ((mapping.model, mapping.links), *_line_links(mapping)):
            for link_ in links:
                if link_.target is target:
                    found.append(Backfill(owner._meta.db_table, link_.fk_column, link_.zoho_column))
    return tuple(dict.fromkeys(found))


def _line_links(mapping: EntityMapping) -> list[tuple[type[models.Model], tuple[Link, ...]]]:
    return [(mapping.lines.model, mapping.lines.links)] if mapping.lines else []


def mapping_for(module: str, contact_type: str | None = None) -> EntityMapping | None:
    """The mapping of a Zoho module key (contacts need their ``contact_type``)."""
    for mapping in MAPPINGS:
        if mapping.module == module and mapping.contact_type in (None, contact_type):
            return mapping
    return None
