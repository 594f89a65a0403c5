"""Alert destinations: Slack's incoming webhook (JSON over HTTPS) and e-mail (SMTP).

Each sender either returns or raises ``DeliveryError`` with a message safe to store and log:
it names what failed (HTTP status, exception type) and never the webhook URL or the SMTP
password, which are credentials.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import environ
import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

# Per monitor run: a few quick tries; the next run tries again if all of them fail.
SLACK_TIMEOUT_SECONDS = 5.0
SLACK_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 1.0
SMTP_TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """A destination did not take the notification."""


def redact(text: str) -> str:
    """Remove every configured secret (the Slack URL, the SMTP password, …) from ``text``."""
    for secret in (*getattr(settings, "SECRET_VALUES", ()), *_alert_secrets()):
        if secret:
            text = text.replace(secret, "***")
    return text


def _alert_secrets() -> tuple[str, ...]:
    slack = settings.ALERT_SLACK_WEBHOOK_URL
    # The whole URL, and its path on its own: the path is the credential, and error pages
    # (or proxies) may quote it without the host.
    found = [slack, urlsplit(slack).path if slack else None]
    if settings.EMAIL_URL:
        found.append(settings.EMAIL_URL)
        found.append(environ.Env.email_url_config(settings.EMAIL_URL).get("EMAIL_HOST_PASSWORD"))
    return tuple(s for s in found if s and len(s) >= 4)


def send_slack(payload: dict) -> None:
    url = settings.ALERT_SLACK_WEBHOOK_URL
    if not url:
        raise DeliveryError("Slack: ALERT_SLACK_WEBHOOK_URL is not set")
    problem = ""
    for attempt in range(SLACK_ATTEMPTS):
        if attempt:
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
        try:
            response = httpx.post(url, json=payload, timeout=SLACK_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            # httpx's messages may quote the request URL; keep the type and reason only.
            problem = redact(f"{type(error).__name__}: {error}")
            continue
        if response.is_success:
            return
        problem = f"HTTP {response.status_code}: {redact(response.text[:200])}"
        if response.status_code < 500 and response.status_code != 429:
            break  # Slack refused the message itself (bad JSON, revoked hook): no use repeating
    raise DeliveryError(f"Slack: {problem}")


def send_email(subject: str, body: str) -> None:
    if not settings.EMAIL_URL:
        raise DeliveryError("e-mail: EMAIL_URL is not set")
    if not settings.ALERT_EMAIL_TO:
        raise DeliveryError("e-mail: ALERT_EMAIL_TO is not set")
    try:
        config = environ.Env.email_url_config(settings.EMAIL_URL)
    except Exception:
        raise DeliveryError("e-mail: EMAIL_URL cannot be parsed") from None
    try:
        connection = get_connection(
            backend=config["EMAIL_BACKEND"],
            host=config.get("EMAIL_HOST"),
            port=config.get("EMAIL_PORT"),
            username=config.get("EMAIL_HOST_USER") or "",
            password=config.get("EMAIL_HOST_PASSWORD") or "",
            use_tls=bool(config.get("EMAIL_USE_TLS")),
            use_ssl=bool(config.get("EMAIL_USE_SSL")),
            timeout=SMTP_TIMEOUT_SECONDS,
            fail_silently=False,
        )
        message = EmailMessage(
            subject, body, settings.ALERT_EMAIL_FROM, list(settings.ALERT_EMAIL_TO)
        )
        message.connection = connection
        message.send()
    except Exception as error:  # smtplib and socket errors alike: record, retry next run
        raise DeliveryError(redact(f"e-mail: {type(error).__name__}: {error}")[:500]) from None
