"""factory-boy factories for the rows the monitor and the metrics read."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from alerts.models import Alert
from inbox.models import InboxEvent
from syncqueue.models import DeadLetter, QueueEntry, SyncLog, WorkerHeartbeat


class QueueEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueEntry

    entity = "invoices"
    record_id = factory.Sequence(lambda n: f"rec-{n}")
    operation = "upsert"
    payload = factory.LazyAttribute(lambda o: {"invoice_id": o.record_id})
    status = "pending"


class DeadLetterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeadLetter

    entry = factory.SubFactory(QueueEntryFactory, status="dead_letter")
    entity = factory.SelfAttribute("entry.entity")
    record_id = factory.SelfAttribute("entry.record_id")
    operation = "upsert"
    payload = factory.LazyFunction(dict)
    error = "FieldValueError: total: 'abc' is not a number"
    attempts = 3


class SyncLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncLog

    entry_id = factory.Sequence(lambda n: n + 1)
    entity = "invoices"
    record_id = factory.Sequence(lambda n: f"rec-{n}")
    operation = "upsert"
    attempt = 1
    outcome = "applied"
    duration_ms = Decimal("3.000")
    latency_ms = factory.LazyAttribute(
        lambda o: Decimal("120.000") if o.outcome in ("applied", "stale") else None
    )
    worker = "test-worker"


class WorkerHeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkerHeartbeat

    name = factory.Sequence(lambda n: f"host:{n}")
    host = "host"
    pid = 4242
    started_at = factory.LazyFunction(timezone.now)
    last_beat_at = factory.LazyFunction(timezone.now)


class InboxEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboxEvent

    validity = "accepted"
    entity = "invoices"
    record_id = factory.Sequence(lambda n: f"rec-{n}")
    operation = "upsert"
    content_hash = factory.Sequence(lambda n: f"{n:064d}")
    method = "POST"
    path = "/webhooks/zoho/invoices/"
    raw_body = b"{}"
    auth_method = "signature"


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    code = "queue_backlog"
    severity = "warning"
    message = "600 queue entries pending (threshold 500)"
    value = Decimal(600)
    threshold = Decimal(500)
    status = "open"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = False
    password = factory.django.Password("pw-for-tests-1")
