"""The figures on the admin's front page, and the geometry of its throughput chart.

The chart is an SVG drawn on the server: no script, nothing fetched from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from alerts.models import Alert, AlertStatus, open_first
from syncqueue.models import Status
from syncqueue.stats import HourBucket, hourly_outcomes, queue_figures

CHART_HEIGHT = 140  # px for the tallest bar
SLOT = 30  # px per hour: two bars of BAR px and a gap
BAR = 12


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    value: int
    kind: str  # "applied" or "failed"
    label: str  # tooltip


@dataclass(frozen=True)
class Chart:
    width: int
    height: int  # drawing area; labels go below
    bars: list[Bar]
    ticks: list[tuple[int, str]]  # (x, "HH:00") every few hours
    peak: int
    total_applied: int
    total_failed: int


def throughput_chart(buckets: list[HourBucket]) -> Chart:
    peak = max([1, *(b.applied for b in buckets), *(b.failed for b in buckets)])
    bars: list[Bar] = []
    ticks: list[tuple[int, str]] = []
    for i, bucket in enumerate(buckets):
        hour = bucket.start.strftime("%H:00")
        for offset, kind, value in (
            (2, "applied", bucket.applied),
            (2 + BAR, "failed", bucket.failed),
        ):
            height = round(value / peak * CHART_HEIGHT)
            if value and height < 1:
                height = 1  # a non-zero hour stays visible
            bars.append(
                Bar(
                    x=i * SLOT + offset,
                    y=CHART_HEIGHT - height,
                    height=height,
                    value=value,
                    kind=kind,
                    label=f"{bucket.start:%Y-%m-%d %H:00} UTC: {value} {kind}",
                )
            )
        if i % 3 == 0:
            ticks.append((i * SLOT + 2, hour))
    return Chart(
        width=len(buckets) * SLOT,
        height=CHART_HEIGHT,
        bars=bars,
        ticks=ticks,
        peak=peak,
        total_applied=sum(b.applied for b in buckets),
        total_failed=sum(b.failed for b in buckets),
    )


def open_alerts(limit: int = 10) -> list[Alert]:
    """Unresolved alerts, open before acknowledged, critical first, the latest first."""
    return list(open_first(Alert.objects.exclude(status=AlertStatus.RESOLVED))[:limit])


def front_page_figures(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    figures = queue_figures(now)
    return {
        "by_status": [(status, figures.by_status[status]) for status in Status.values],
        "by_entity": figures.by_entity,
        "oldest_pending_age_seconds": figures.oldest_pending_age_seconds,
        "claimable": figures.claimable,
        "open_dead_letters": figures.dead_letters_unresolved,
        "stuck": figures.stuck,
        "chart": throughput_chart(hourly_outcomes(24, now)),
        "alerts": open_alerts(),
        "workers": figures.workers_live,
        "held": figures.held_records,
        "now": now,
    }
