"""What an alert notification says: a Slack message and an e-mail, from one alert row."""

from __future__ import annotations

from django.conf import settings

from alerts.models import Alert, NotifyEvent

_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}
_RESOLVED_ICON = ":large_green_circle:"


def headline(alert: Alert) -> str:
    app, severity = settings.APP_NAME, alert.severity.upper()
    if alert.notify_event == NotifyEvent.RESOLVED:
        return f"[{app}] RESOLVED {alert.code} (was {alert.severity}): {alert.message}"
    if alert.notify_event == NotifyEvent.ESCALATED:
        return f"[{app}] ESCALATED to {severity} {alert.code}: {alert.message}"
    return f"[{app}] {severity} {alert.code}: {alert.message}"


def details(alert: Alert) -> list[tuple[str, str]]:
    rows = [
        ("alert", f"#{alert.pk} {alert.code}"),
        ("event", alert.notify_event),
        ("severity", alert.severity),
        ("status", alert.status),
        ("measured", f"{alert.value.normalize():f}"),
        ("threshold", f"{alert.threshold.normalize():f}"),
        ("first seen", alert.first_seen_at.isoformat(timespec="seconds")),
        ("last seen", alert.last_seen_at.isoformat(timespec="seconds")),
        ("seen", f"{alert.seen_count} run" + ("" if alert.seen_count == 1 else "s")),
        ("environment", settings.ENV),
    ]
    if alert.resolved_at:
        rows.append(("resolved", alert.resolved_at.isoformat(timespec="seconds")))
    if alert.resolved_by:
        rows.append(("resolved by", alert.resolved_by))
    return rows


def slack_payload(alert: Alert) -> dict:
    """Slack's incoming-webhook JSON: ``text`` for notifications, ``blocks`` for the body."""
    resolved = alert.notify_event == NotifyEvent.RESOLVED
    icon = _RESOLVED_ICON if resolved else _ICONS.get(alert.severity, "")
    text = f"{icon} {headline(alert)}".strip()
    facts = "\n".join(f"*{name}:* {value}" for name, value in details(alert))
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
        ],
    }


def email_subject(alert: Alert) -> str:
    return headline(alert)[:200]


def email_body(alert: Alert) -> str:
    width = max(len(name) for name, _ in details(alert))
    lines = [headline(alert), ""]
    lines += [f"{name.ljust(width)}  {value}" for name, value in details(alert)]
    lines += ["", "Acknowledge it in the admin (/admin/alerts/alert/) or the dashboard API."]
    return "\n".join(lines) + "\n"
