"""What GET /metrics exposes: Prometheus metrics, computed from the database at scrape time.

Nothing is counted in process memory: every figure is a query over the shared tables, so
any API process answers the same and no multiprocess directory is needed. Counters and the
histogram are running totals (``syncqueue.totals``): rows kept plus rows ``tds_purge`` has
deleted, so they only ever rise, across purges and restarts.
"""

from __future__ import annotations

from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from alerts.models import Alert, AlertStatus, Severity
from inbox import history
from inbox.models import Validity
from syncqueue import stats, totals
from syncqueue.heartbeat import stale_after
from syncqueue.models import Outcome, WorkerHeartbeat

# Attempt outcomes as the metric's ``outcome`` label.
OUTCOME_LABELS = {
    Outcome.APPLIED: "applied",
    Outcome.STALE: "skipped",
    Outcome.FAILED: "failed",
    Outcome.DEAD_LETTER: "dead_lettered",
}


class DatabaseCollector(Collector):
    def collect(self):
        now = timezone.now()
        queue = stats.queue_figures(now)
        yield from self._queue(queue, now)
        yield self._events()
        yield self._latency()
        yield from self._alerts()
        yield from self._workers(queue, now)
        yield self._webhooks()

    def _queue(self, queue: stats.QueueFigures, now):
        by_status = GaugeMetricFamily(
            "tds_queue_depth", "Queue entries in each status.", labels=["status"]
        )
        for status, count in queue.by_status.items():
            by_status.add_metric([status], count)
        yield by_status

        by_entity = GaugeMetricFamily(
            "tds_queue_entries",
            "Queue entries by status and entity (only combinations that exist).",
            labels=["status", "entity"],
        )
        existing = (
            (status, entity, count)
            for entity, counts in queue.by_entity.items()
            for status, count in counts.items()
            if count
        )
        for status, entity, count in sorted(existing):
            by_entity.add_metric([status, entity], count)
        yield by_entity

        yield GaugeMetricFamily(
            "tds_queue_oldest_pending_age_seconds",
            "How long the oldest pending entry has waited (0 when none is pending).",
            value=float(queue.oldest_pending_age_seconds or 0),
        )
        yield GaugeMetricFamily(
            "tds_queue_stuck_entries",
            "Entries in processing past their lease or STUCK_EVENT_MINUTES.",
            value=queue.stuck,
        )
        yield GaugeMetricFamily(
            "tds_dead_letters_unresolved",
            "Dead letters no operator or replay has resolved yet.",
            value=queue.dead_letters_unresolved,
        )
        yield GaugeMetricFamily(
            "tds_sync_failure_ratio_1h",
            "Failed or dead-lettered attempts over all attempts in the last hour.",
            value=float(stats.failure_rate(now).rate),
        )

    def _events(self):
        events = CounterMetricFamily(
            "tds_sync_events",
            "Apply attempts by entity and outcome (applied, skipped as stale, failed, "
            "dead_lettered).",
            labels=["entity", "outcome"],
        )
        for (entity, outcome), sums in sorted(totals.current(totals.SYNC_ATTEMPTS).items()):
            label = OUTCOME_LABELS.get(outcome, outcome)
            events.add_metric([entity, label], sums["attempts"])
        return events

    def _latency(self):
        histogram = HistogramMetricFamily(
            "tds_apply_latency_seconds",
            "Time from accepting an event to applying it (or skipping it as stale).",
            labels=["entity"],
        )
        for (entity,), sums in sorted(totals.current(totals.APPLY_LATENCY).items()):
            series = [
                (floatToGoString(bound), sums[totals.bucket_measure(bound)])
                for bound in totals.LATENCY_BUCKETS_SECONDS
            ]
            series.append(("+Inf", sums["count"]))
            histogram.add_metric([entity], series, sum_value=sums["sum_ms"] / 1000)
        return histogram

    def _alerts(self):
        unresolved = Alert.objects.exclude(status=AlertStatus.RESOLVED)
        counts = dict.fromkeys(Severity.values, 0)
        active = GaugeMetricFamily(
            "tds_alert_active",
            "1 for each unresolved alert, by condition code, severity and status.",
            labels=["code", "severity", "status"],
        )
        for code, severity, status in unresolved.order_by("code").values_list(
            "code", "severity", "status"
        ):
            counts[severity] = counts.get(severity, 0) + 1
            active.add_metric([code, severity, status], 1)
        by_severity = GaugeMetricFamily(
            "tds_alerts_open",
            "Unresolved (open or acknowledged) alerts by severity.",
            labels=["severity"],
        )
        for severity, count in counts.items():
            by_severity.add_metric([severity], count)
        yield by_severity
        yield active

    def _workers(self, queue: stats.QueueFigures, now):
        yield GaugeMetricFamily(
            "tds_workers_live",
            "Workers whose heartbeat is recent enough to count them as running.",
            value=queue.workers_live,
        )
        latest = WorkerHeartbeat.objects.order_by("-last_beat_at").first()
        if latest is not None:
            yield GaugeMetricFamily(
                "tds_worker_last_beat_age_seconds",
                "Seconds since any worker last beat.",
                value=max(0.0, (now - latest.last_beat_at).total_seconds()),
            )
        yield GaugeMetricFamily(
            "tds_worker_stale_after_seconds",
            "A worker silent for longer than this counts as down.",
            value=stale_after().total_seconds(),
        )

    def _webhooks(self):
        received = CounterMetricFamily(
            "tds_webhook_requests",
            "Authenticated webhook requests received, by validity "
            "(accepted, or rejected as unusable).",
            labels=["validity"],
        )
        counts = dict.fromkeys(Validity.values, 0.0)
        for (validity,), sums in totals.current(history.WEBHOOKS).items():
            counts[validity] = sums["requests"]
        for validity, count in counts.items():
            received.add_metric([validity], count)
        return received


def build_registry() -> CollectorRegistry:
    # A registry of our own: the default one would add this process's own figures, which
    # differ between API processes and mean nothing for the pipeline.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return registry


REGISTRY = build_registry()
