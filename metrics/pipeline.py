"""The figures behind GET /dashboard/metrics, gathered in one place (from ``syncqueue.stats``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from alerts.models import Alert, AlertStatus, Severity, open_first
from syncqueue import stats
from syncqueue.stats import HOUR


def pipeline_figures() -> dict:
    now = timezone.now()
    queue = stats.queue_figures(now)
    failures = stats.failure_rate(now, HOUR)
    applied_5m = stats.applied_since(now - timedelta(minutes=5))
    applied_hour = stats.applied_since(now - HOUR)
    latency = stats.latency(now, (50, 99), HOUR)
    unresolved = open_first(Alert.objects.exclude(status=AlertStatus.RESOLVED))
    by_severity = dict.fromkeys(Severity.values, 0)
    for row in unresolved.values("severity").annotate(n=Count("id")).order_by():
        by_severity[row["severity"]] = row["n"]
    return {
        "generated_at": now,
        "queue": queue,
        "throughput": {
            "applied_last_5m": applied_5m,
            "applied_last_hour": applied_hour,
            "per_minute_last_5m": Decimal(applied_5m) / 5,
            "per_minute_last_hour": Decimal(applied_hour) / 60,
        },
        "failure_rate": failures.rate,
        "failures": {
            "window_seconds": 3600,
            "attempts": failures.attempts,
            "failed": failures.failed,
        },
        "latency": {
            "window_seconds": 3600,
            "samples": latency.samples,
            "p50_ms": latency.percentiles[50],
            "p99_ms": latency.percentiles[99],
        },
        "workers_live": queue.workers_live,  # also in "queue"; kept where clients read it
        "open_alerts_by_severity": by_severity,
        "open_alerts": list(unresolved),
    }
