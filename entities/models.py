"""The ERP tables TDS Core keeps in step with Zoho (CONTRACT §5).

Every record table shares the ``ZohoRecord`` columns. Links to other records (an invoice's
customer, a line's product) keep the Zoho id always and a resolved foreign key when the
other record is known; no database constraint, since Zoho may send them in any order.
"""

from __future__ import annotations

from django.db import models

MONEY = {"max_digits": 24, "decimal_places": 6, "null": True, "blank": True}


def link_indexes(zoho_column: str, fk: str, prefix: str) -> list[models.Index]:
    """A link's two partial indexes: linked rows by the record they point to, and unlinked
    rows by the Zoho id they wait for.

    The second is where the backfill looks when the linked record arrives. Kept apart, "fk IS
    NULL" can only be reached through it, never by walking every unlinked row of every id in
    an index of the foreign key (a plan made while the tables were empty might otherwise).
    """
    return [
        models.Index(
            fields=[fk], name=f"{prefix}_{fk}", condition=models.Q((f"{fk}__isnull", False))
        ),
        models.Index(
            fields=[zoho_column],
            name=f"{prefix}_no_{fk}",
            condition=models.Q((f"{fk}__isnull", True)),
        ),
    ]


def link(to: str, related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # see link_indexes
        null=True,
        blank=True,
        related_name=related_name,
    )


class ZohoRecord(models.Model):
    zoho_id = models.CharField(max_length=64, unique=True)
    zoho_last_modified = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        label = getattr(self, "number", None) or getattr(self, "name", None) or ""
        return f"{label} ({self.zoho_id})" if label else self.zoho_id


class Contact(ZohoRecord):
    name = models.TextField(null=True, blank=True)
    company_name = models.TextField(null=True, blank=True)
    email = models.TextField(null=True, blank=True)
    phone = models.TextField(null=True, blank=True)
    currency_code = models.CharField(max_length=8, null=True, blank=True)
    status = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        abstract = True


class Product(ZohoRecord):
    name = models.TextField(null=True, blank=True)
    sku = models.TextField(null=True, blank=True)
    rate = models.DecimalField(**MONEY)
    purchase_rate = models.DecimalField(**MONEY)
    unit = models.CharField(max_length=32, null=True, blank=True)
    status = models.CharField(max_length=32, null=True, blank=True)
    stock_on_hand = models.DecimalField(**MONEY)

    class Meta:
        db_table = "products"


class Customer(Contact):
    class Meta:
        db_table = "customers"


class Vendor(Contact):
    class Meta:
        db_table = "vendors"


class Document(ZohoRecord):
    number = models.TextField(null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=32, null=True, blank=True)
    currency_code = models.CharField(max_length=8, null=True, blank=True)
    total = models.DecimalField(**MONEY)

    class Meta:
        abstract = True


class Invoice(Document):
    customer_zoho_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    customer = link("entities.Customer", "invoices")
    due_date = models.DateField(null=True, blank=True)
    balance = models.DecimalField(**MONEY)

    class Meta:
        db_table = "invoices"
        indexes = link_indexes("customer_zoho_id", "customer", "invoices")


class Bill(Document):
    vendor_zoho_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    vendor = link("entities.Vendor", "bills")
    due_date = models.DateField(null=True, blank=True)
    balance = models.DecimalField(**MONEY)

    class Meta:
        db_table = "bills"
        indexes = link_indexes("vendor_zoho_id", "vendor", "bills")


class CreditNote(Document):
    customer_zoho_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    customer = link("entities.Customer", "credit_notes")
    balance = models.DecimalField(**MONEY)

    class Meta:
        db_table = "credit_notes"
        indexes = link_indexes("customer_zoho_id", "customer", "credit_notes")


class SalesOrder(Document):
    customer_zoho_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    customer = link("entities.Customer", "sales_orders")

    class Meta:
        db_table = "sales_orders"
        indexes = link_indexes("customer_zoho_id", "customer", "sales_orders")


class Payment(ZohoRecord):
    number = models.TextField(null=True, blank=True)
    customer_zoho_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    customer = link("entities.Customer", "payments")
    date = models.DateField(null=True, blank=True)
    amount = models.DecimalField(**MONEY)
    payment_mode = models.TextField(null=True, blank=True)
    reference_number = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "payments"
        indexes = link_indexes("customer_zoho_id", "customer", "payments")


class StockAdjustment(ZohoRecord):
    date = models.DateField(null=True, blank=True)
    reason = models.TextField(null=True, blank=True)
    adjustment_type = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        db_table = "stock_adjustments"


class PriceList(ZohoRecord):
    name = models.TextField(null=True, blank=True)
    currency_code = models.CharField(max_length=8, null=True, blank=True)
    status = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        db_table = "price_lists"


class ItemRow(models.Model):
    """A row of a record that names an item; rows are replaced whole with their parent."""

    position = models.PositiveIntegerField()
    item_zoho_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    product = link("entities.Product", "+")
    name = models.TextField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ("position",)
        indexes = link_indexes("item_zoho_id", "product", "%(class)s")

    def __str__(self) -> str:
        return f"{self.position}. {self.name or self.item_zoho_id or ''}"


class Line(ItemRow):
    """A document line (invoice, bill, credit note, sales order)."""

    line_zoho_id = models.CharField(max_length=64, null=True, blank=True)
    quantity = models.DecimalField(**MONEY)
    rate = models.DecimalField(**MONEY)
    item_total = models.DecimalField(**MONEY)

    class Meta(ItemRow.Meta):
        abstract = True


class InvoiceLine(Line):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")

    class Meta(Line.Meta):
        db_table = "invoice_lines"


class BillLine(Line):
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")

    class Meta(Line.Meta):
        db_table = "bill_lines"


class CreditNoteLine(Line):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")

    class Meta(Line.Meta):
        db_table = "credit_note_lines"


class SalesOrderLine(Line):
    sales_order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")

    class Meta(Line.Meta):
        db_table = "sales_order_lines"


class StockAdjustmentLine(ItemRow):
    stock_adjustment = models.ForeignKey(
        StockAdjustment, on_delete=models.CASCADE, related_name="lines"
    )
    quantity_adjusted = models.DecimalField(**MONEY)

    class Meta(ItemRow.Meta):
        db_table = "stock_adjustment_lines"


class PriceListItem(ItemRow):
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items")
    rate = models.DecimalField(**MONEY)

    class Meta(ItemRow.Meta):
        db_table = "price_list_items"


class DocumentMismatch(models.Model):
    """A document whose lines, taxes and discounts do not add up to its total
    (``entities.accounting``): applied as Zoho sent it, and flagged until a later version
    adds up or it is deleted."""

    entity = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    reason = models.TextField()
    detected_at = models.DateTimeField()

    class Meta:
        db_table = "tds_document_mismatches"
        verbose_name = "document that does not add up"
        verbose_name_plural = "documents that do not add up"
        constraints = [
            models.UniqueConstraint(fields=["entity", "record_id"], name="tds_mismatch_record")
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.record_id}: {self.reason[:60]}"
