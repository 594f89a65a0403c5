"""The health monitor: run every check, keep ``tds_alerts`` in step, send what is owed.

``run_monitor`` never raises. Each check runs on its own, in its own transaction, so a check
that fails (a query error, a lock timeout) is logged and the others still run; deliveries
come last and their failures stay on the alert rows, to be retried on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from alerts import notify
from alerts.conditions import CONDITIONS, Reading, condition_code
from alerts.models import SEVERITY_RANK, Alert, AlertStatus, NotifyEvent

logger = logging.getLogger("tds.alerts")


@dataclass
class Finding:
    code: str
    action: str  # opened, escalated, deescalated, ongoing, resolved, clear, error
    severity: str | None
    message: str


@dataclass
class MonitorReport:
    findings: list[Finding] = field(default_factory=list)
    deliveries: list[notify.Delivery] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.action == "error"]

    def summary(self) -> str:
        bad = [f"{f.code}={f.severity}({f.action})" for f in self.findings if f.severity]
        failed = [f.code for f in self.errors]
        text = "all clear" if not bad else ", ".join(bad)
        if failed:
            text += f"; checks failed: {', '.join(failed)}"
        return text


def run_monitor(now: datetime | None = None, only: Collection[str] = ()) -> MonitorReport:
    """Every check, or those whose codes are in ``only``; then the deliveries owed."""
    report = MonitorReport()
    for check in CONDITIONS:
        if only and condition_code(check) not in only:
            continue
        moment = now or timezone.now()
        try:
            reading = check(moment)
            action = record(reading, moment)
            report.findings.append(Finding(reading.code, action, reading.severity, reading.message))
        except Exception as error:  # one broken check must not silence the others
            code = condition_code(check)
            logger.exception("monitor check failed", extra={"check": code})
            report.findings.append(Finding(code, "error", None, f"{type(error).__name__}"))
    try:
        report.deliveries = notify.deliver_pending()
    except Exception:
        logger.exception("alert delivery failed; retrying on the next run")
    for finding in report.findings:
        if finding.action in ("opened", "escalated", "resolved"):
            logger.warning(
                "alert %s: %s",
                finding.action,
                finding.code,
                extra={"code": finding.code, "severity": finding.severity},
            )
    return report


def run_scheduled() -> str:
    """The django-q2 schedule's entry point; its return value is the task's result."""
    return run_monitor().summary()


def record(reading: Reading, now: datetime) -> str:
    """Open, update, escalate or resolve the unresolved alert of ``reading.code``."""
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(code=reading.code)
            .exclude(status=AlertStatus.RESOLVED)
            .first()
        )
        if reading.severity is None:
            if alert is None:
                return "clear"
            _resolve(alert, now)
            return "resolved"
        if alert is None:
            alert = Alert(
                code=reading.code,
                severity=reading.severity,
                value=reading.value,
                threshold=reading.threshold,
                message=reading.message,
                first_seen_at=now,
                last_seen_at=now,
            )
            notify.mark_for_notification(alert, NotifyEvent.OPENED)
            alert.save()
            return "opened"
        return _update(alert, reading, now)


def _update(alert: Alert, reading: Reading, now: datetime) -> str:
    rank_before, rank_now = SEVERITY_RANK[alert.severity], SEVERITY_RANK[reading.severity]
    alert.severity = reading.severity
    alert.value = reading.value
    alert.threshold = reading.threshold
    alert.message = reading.message
    alert.last_seen_at = now
    alert.seen_count += 1
    action = "ongoing"
    if rank_now > rank_before:
        action = "escalated"
        # An acknowledgement covered the lesser condition; the worse one needs a person again.
        alert.status = AlertStatus.OPEN
        alert.acknowledged_by, alert.acknowledged_at = "", None
    elif rank_now < rank_before:
        action = "deescalated"
    # Announce only a severity above what was last announced: a value that hovers around the
    # critical threshold must not page on every crossing.
    if rank_now > SEVERITY_RANK[alert.notified_severity]:
        notify.mark_for_notification(alert, NotifyEvent.ESCALATED)
    alert.save()
    return action


def _resolve(alert: Alert, now: datetime, by: str = "") -> None:
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = by
    notify.mark_for_notification(alert, NotifyEvent.RESOLVED)
    alert.save()
