"""Fixture-shaped Zoho records with unique ids, for the benchmarks' webhooks and backlogs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests/fixtures/zoho"
FIXTURE_OF = {
    "invoices": ("invoice.json", "invoice", "invoice_id"),
    "customers": ("contact_customer.json", "contact", "contact_id"),
    "vendors": ("contact_vendor.json", "contact", "contact_id"),
    "products": ("item.json", "item", "item_id"),
}


def _fixture(entity: str) -> dict:
    name, key, _ = FIXTURE_OF[entity]
    return json.loads((FIXTURES / name).read_text())[key]


TEMPLATES = {entity: _fixture(entity) for entity in FIXTURE_OF}
_LINE = TEMPLATES["invoices"]["line_items"][0]


class Records:
    """Fixture-shaped records with unique ids; invoices link to recent customers and items."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0
        self.customers: list[str] = ["2851937000000038005"]
        self.items: list[str] = ["2851937000000041017"]

    def make(self, entity: str) -> tuple[str, dict]:
        self.n += 1
        rid = f"{self.prefix}{self.n:09d}"
        record = copy.deepcopy(TEMPLATES[entity])
        record[FIXTURE_OF[entity][2]] = rid
        record["last_modified_time"] = (
            f"2025-03-02T10:{self.n // 60 % 60:02d}:{self.n % 60:02d}+0300"
        )
        if entity == "invoices":
            record["invoice_number"] = f"INV-{self.n}"
            record["customer_id"] = self.customers[self.n % len(self.customers)]
            lines = []
            for i in range(5):
                line = dict(_LINE)
                line["line_item_id"] = f"{rid}{i}"
                line["item_id"] = self.items[(self.n + i) % len(self.items)]
                line["quantity"] = i + 1
                line["item_total"] = (i + 1) * line["rate"]
                lines.append(line)
            record["line_items"] = lines
        elif entity in ("customers", "vendors"):
            record["contact_name"] = f"Contact {self.n}"
            if entity == "customers":
                self.customers = [*self.customers[-49:], rid]
        else:
            record["name"] = f"Item {self.n}"
            record["sku"] = f"SKU-{self.n}"
            self.items = [*self.items[-99:], rid]
        return rid, record
