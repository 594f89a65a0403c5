"""Running totals over the history tables that ``tds_purge`` thins out.

A total is an aggregate of one history table, grouped by label columns: sync-log attempts by
entity and outcome, apply latency by entity, and (registered by the inbox) webhooks by
validity. Before ``tds_purge``
deletes a batch, it adds what the batch contributed to ``tds_purged_totals`` in the batch's
own transaction (``add_purged``), so rows kept + rows purged, which ``current`` reads, never
falls. The Prometheus counters are these totals. Ingest and the worker's apply write nothing
extra: only the purge pays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, models
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Concat

from syncqueue.models import PurgedTotal, SyncLog

LABEL_SEPARATOR = "|"  # label values are entity slugs and status words: never contain it

# Apply latency (accepted to applied) spans milliseconds to hours once retries are involved.
LATENCY_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

Figures = dict[tuple[str, ...], dict[str, float]]  # label values -> measure -> value


def bucket_measure(bound_seconds: float) -> str:
    """The measure counting latencies up to ``bound_seconds``, named by the bound itself so
    that a changed bucket list never adds old counts to a different bound."""
    return f"le_{round(bound_seconds * 1000)}ms"


@dataclass(frozen=True)
class Total:
    name: str
    model: type[models.Model]
    labels: tuple[str, ...]
    measures: Mapping[str, models.Aggregate]
    rows: Q = field(default_factory=Q)

    def grouped(self, queryset: QuerySet) -> QuerySet:
        """One row per label combination: its key (the values joined), then each measure."""
        key: F | Concat = F(self.labels[0])
        for label in self.labels[1:]:
            key = Concat(key, Value(LABEL_SEPARATOR), F(label), output_field=models.CharField())
        return queryset.filter(self.rows).values(key=key).annotate(**self.measures).order_by()

    def purged(self) -> QuerySet:
        """The purged part in the same shape as ``grouped``, so the two can be one UNION."""
        sums = {m: Sum("value", filter=Q(measure=m)) for m in self.measures}
        return (
            PurgedTotal.objects.filter(total=self.name)
            .values(key=F("labels"))
            .annotate(**sums)
            .order_by()
        )


SYNC_ATTEMPTS = Total("sync_attempts", SyncLog, ("entity", "outcome"), {"attempts": Count("id")})
APPLY_LATENCY = Total(
    "apply_latency",
    SyncLog,
    ("entity",),
    {
        "count": Count("id"),
        "sum_ms": Sum("latency_ms"),
        **{
            bucket_measure(bound): Count("id", filter=Q(latency_ms__lte=Decimal(str(bound * 1000))))
            for bound in LATENCY_BUCKETS_SECONDS
        },
    },
    rows=Q(latency_ms__isnull=False),
)
_TOTALS: dict[str, Total] = {}


def register(total: Total) -> None:
    """Count ``total`` when its rows are purged; each app registers its own as it starts."""
    _TOTALS[total.name] = total


def current(total: Total) -> Figures:
    """Rows kept plus rows purged, per label values.

    One statement (a UNION ALL), so it sees one committed state: a purge batch, which moves
    rows from one side to the other in a single transaction, is seen whole or not at all.
    """
    figures: Figures = {}
    union = total.grouped(total.model.objects.all()).union(total.purged(), all=True)
    for row in union:
        labels = tuple(row["key"].split(LABEL_SEPARATOR))
        sums = figures.setdefault(labels, dict.fromkeys(total.measures, 0.0))
        for measure in total.measures:
            sums[measure] += float(row[measure] or 0)
    return figures


_TABLE = PurgedTotal._meta.db_table
_ADD = (
    f"INSERT INTO {_TABLE} (total, labels, measure, value) VALUES (%s, %s, %s, %s) "
    f"ON CONFLICT (total, labels, measure) DO UPDATE SET value = {_TABLE}.value + excluded.value"
)


def add_purged(rows: QuerySet) -> None:
    """Add what ``rows`` count in every total of their table; call in the transaction that
    deletes them, with the rows locked."""
    additions = [
        (total.name, row["key"], measure, Decimal(str(row[measure] or 0)))
        for total in _TOTALS.values()
        if total.model is rows.model
        for row in total.grouped(rows)
        for measure in total.measures
    ]
    if additions:
        with connection.cursor() as cursor:
            cursor.executemany(_ADD, additions)
