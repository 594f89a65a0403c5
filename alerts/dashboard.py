"""The figures behind GET /dashboard/metrics, gathered in one place."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from alerts import stats
from alerts.models import Alert, AlertStatus, Severity, open_first
from syncqueue.heartbeat import live_workers
from syncqueue.models import SyncLog

HOUR = timedelta(hours=1)


def dashboard_figures() -> dict:
    now = timezone.now()
    rate, failed, attempts = stats.failure_rate(now, HOUR)
    applied_5m = stats.applied_since(now - timedelta(minutes=5))
    applied_hour = stats.applied_since(now - HOUR)
    percentiles = stats.latency_percentiles((50, 99), now, HOUR)
    samples = SyncLog.objects.filter(created_at__gte=now - HOUR, latency_ms__isnull=False).count()
    unresolved = open_first(Alert.objects.exclude(status=AlertStatus.RESOLVED))
    by_severity = dict.fromkeys(Severity.values, 0)
    for row in unresolved.values("severity").annotate(n=Count("id")).order_by():
        by_severity[row["severity"]] = row["n"]
    return {
        "generated_at": now,
        "queue": {
            "by_status": stats.queue_by_status(),
            "oldest_pending_age_seconds": stats.oldest_pending_age(now),
            "stuck": stats.stuck_count(now),
            "dead_letters_unresolved": stats.unresolved_dead_letters(),
        },
        "throughput": {
            "applied_last_5m": applied_5m,
            "applied_last_hour": applied_hour,
            "per_minute_last_5m": Decimal(applied_5m) / 5,
            "per_minute_last_hour": Decimal(applied_hour) / 60,
        },
        "failure_rate": rate,
        "failures": {"window_seconds": 3600, "attempts": attempts, "failed": failed},
        "latency": {
            "window_seconds": 3600,
            "samples": samples,
            "p50_ms": percentiles[50],
            "p99_ms": percentiles[99],
        },
        "workers_live": len(live_workers()),
        "open_alerts_by_severity": by_severity,
        "open_alerts": list(unresolved),
    }
