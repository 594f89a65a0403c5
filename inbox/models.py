"""The inbox: every authenticated webhook, exactly as it arrived.

Like dj-stripe's webhook record, a row keeps the raw body, the headers (secret-bearing ones
redacted), how the request was authenticated and whether it was usable. Its processing state
is its queue entry (``syncqueue.QueueEntry.inbox_event_id``).
"""

from __future__ import annotations

import json

from django.db import models
from django.utils import timezone


class AuthMethod(models.TextChoices):
    SIGNATURE = "signature"
    TOKEN = "token"
    UNSIGNED = "unsigned"


class Validity(models.TextChoices):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class InboxEvent(models.Model):
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    validity = models.CharField(max_length=16, choices=Validity.choices, default=Validity.ACCEPTED)
    rejection_reason = models.TextField(blank=True, default="")
    entity = models.CharField(max_length=32, blank=True, default="", db_index=True)
    record_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    operation = models.CharField(max_length=16, blank=True, default="")
    event_type = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="", db_index=True)
    dedup_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    content_hash = models.CharField(max_length=64)
    content_type = models.CharField(max_length=128, blank=True, default="")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    raw_body = models.BinaryField()
    params = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    auth_method = models.CharField(max_length=16, choices=AuthMethod.choices)
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "tds_inbox_events"
        verbose_name = "inbox event"
        indexes = [models.Index(fields=["validity", "received_at"], name="tds_inbox_validity")]

    def __str__(self) -> str:
        what = f"{self.entity} {self.record_id}".strip() or "rejected"
        return f"#{self.pk} {what} {self.operation}".strip()

    @property
    def body_text(self) -> str:
        return bytes(self.raw_body).decode("utf-8", errors="replace")

    @property
    def pretty_body(self) -> str:
        try:
            return json.dumps(json.loads(self.body_text), indent=2, ensure_ascii=False)
        except ValueError:
            return self.body_text


class RateWindow(models.Model):
    """Webhooks from one source address in the current fixed window of WEBHOOK_RATE_LIMIT.

    The count shared by every API process when there is no Redis: one upsert per webhook.
    """

    source = models.CharField(max_length=64, primary_key=True)
    window_index = models.BigIntegerField(help_text="Seconds since the epoch // the window.")
    hits = models.PositiveIntegerField()

    class Meta:
        db_table = "tds_webhook_rate"
        indexes = [models.Index(fields=["window_index"], name="tds_webhook_rate_window")]

    def __str__(self) -> str:
        return f"{self.source}: {self.hits} in window {self.window_index}"
