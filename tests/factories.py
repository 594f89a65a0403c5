"""The one set of factory-boy factories for every app's tests: one factory per model.

Defaults look like what TDS Core writes itself: records shaped like Zoho's default payloads
(``tests/fixtures/zoho/``, numbers read as ``Decimal`` the way ingest reads them), Zoho ids
as strings, the operations a configured Zoho webhook states (``create``, ``update``,
``delete``; docs/operations.md), timezone-aware times, Decimal durations and alert figures.
Traits name the states tests need, e.g. ``QueueEntryFactory(failed=True)``.

Models are named as ``"app_label.Model"``: this module imports no app's models, so moving
one to another module of its app does not touch it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from datetime import timedelta
from decimal import Decimal
from functools import cache

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from tests.support import FIXTURE_ENTITIES, FIXTURES

# What the Zoho webhooks are set up to state (docs/operations.md). Ingest falls back to
# "upsert" only for a webhook that states no operation at all.
OPERATION = "update"
WORKER = "worker-1:4242"  # host:pid, as syncqueue.processing.worker_name() spells it


def zoho_id(n: int) -> str:
    """A Zoho-style numeric id, as a string; never one of the fixtures' ids."""
    return f"28519370009{n:08d}"


@cache
def _fixture(entity: str) -> tuple[str, dict]:
    """The module key and record of ``entity``'s fixture, numbers read as ingest reads them."""
    name = next(name for name, (_, erp) in FIXTURE_ENTITIES.items() if erp == entity)
    document = json.loads((FIXTURES / f"{name}.json").read_text(), parse_float=Decimal)
    ((module, record),) = document.items()
    return module, record


def id_field(entity: str) -> str:
    """The record's id field: ``item_id``, ``contact_id``, ``invoice_id``, ..."""
    return f"{_fixture(entity)[0]}_id"


def zoho_record(entity: str, record_id: str, **changes) -> dict:
    """A fresh copy of ``entity``'s fixture record with ``record_id`` as its id."""
    record = copy.deepcopy(_fixture(entity)[1])
    record[id_field(entity)] = record_id
    record.update(changes)
    return record


def zoho_body(entity: str, record: dict) -> bytes:
    """A webhook body as Zoho sends it by default: ``{"<module key>": {record}}``."""
    return json.dumps({_fixture(entity)[0]: record}, default=float).encode()


# --- inbox ------------------------------------------------------------------------------


class InboxEventFactory(factory.django.DjangoModelFactory):
    """An accepted webhook, signed, with its body and headers as ingest keeps them."""

    class Meta:
        model = "inbox.InboxEvent"

    class Params:
        record = factory.LazyAttribute(
            lambda o: zoho_record(o.entity, o.record_id) if o.entity else None
        )
        # Authentic, but unusable: kept with its reason and no event identity.
        rejected = factory.Trait(
            validity="rejected",
            rejection_reason="unknown module: the payload has no module key (item, contact, "
            "invoice, ...) and neither the path nor X-Zoho-Event names one",
            entity="",
            record_id="",
            operation="",
            raw_body=b'{"status": "paid"}',
            path="/webhooks/zoho/",
            params={},
        )

    received_at = factory.LazyFunction(timezone.now)
    validity = "accepted"
    entity = "products"
    record_id = factory.Sequence(zoho_id)
    operation = OPERATION
    raw_body = factory.LazyAttribute(lambda o: zoho_body(o.entity, o.record))
    content_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.raw_body).hexdigest())
    content_type = "application/json"
    method = "POST"
    path = factory.LazyAttribute(lambda o: f"/webhooks/zoho/{o.entity}/")
    params = factory.LazyAttribute(lambda o: {"operation": o.operation})
    headers = factory.LazyFunction(
        lambda: {"content-type": "application/json", "x-zoho-webhook-signature": "[redacted]"}
    )
    remote_addr = "203.0.113.10"
    auth_method = "signature"
    # Ingest gives every accepted event its dedup key (unique); a rejected one has none.
    dedup_key = factory.LazyAttributeSequence(
        lambda o, n: (
            hashlib.sha256(f"{o.entity}\n{o.record_id}\n{o.operation}\n{n}".encode()).hexdigest()
            if o.validity == "accepted"
            else None
        )
    )


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    """A ``tds_reconcile`` pass still running; ``finished=True`` for one that succeeded."""

    class Meta:
        model = "reconciliation.ReconciliationRun"

    class Params:
        finished = factory.Trait(finished_at=factory.LazyFunction(timezone.now), succeeded=True)

    entity = "products"
    since = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=24))
    started_at = factory.LazyFunction(timezone.now)


# --- sync queue -------------------------------------------------------------------------


FAILURE = "FieldValueError: rate: 'abc' is not a number"
TRACEBACK = f"Traceback (most recent call last):\n  ...\nentities.fields.{FAILURE}\n"


class QueueEntryFactory(factory.django.DjangoModelFactory):
    """A pending entry (due now) holding a Zoho record, as ingest queues it.

    ``record=``: the Zoho record to queue; its id is the entry's record id.
    ``event=``: the inbox event it was queued for; entity, record id and operation follow it.
    """

    class Meta:
        model = "syncqueue.QueueEntry"

    class Params:
        event = None
        record = None
        # Claimed by a worker, whose lease runs for STUCK_EVENT_SECONDS.
        processing = factory.Trait(
            status="processing",
            locked_by=WORKER,
            locked_until=factory.LazyFunction(
                lambda: timezone.now() + timedelta(seconds=settings.STUCK_EVENT_SECONDS)
            ),
            claim_token=factory.LazyFunction(lambda: secrets.token_hex(8)),
        )
        # Its first attempt failed; due for its retry now.
        failed = factory.Trait(status="failed", attempts=1, last_error=FAILURE)
        # Its attempts used up (see DeadLetterFactory for the letter itself).
        dead_lettered = factory.Trait(
            status="dead_letter", outcome="dead_letter", attempts=3, last_error=FAILURE
        )
        completed = factory.Trait(
            status="completed",
            outcome="applied",
            attempts=1,
            completed_at=factory.LazyFunction(timezone.now),
        )

    inbox_event_id = factory.LazyAttribute(lambda o: o.event.pk if o.event else None)
    entity = factory.LazyAttribute(lambda o: o.event.entity if o.event else "products")
    record_id = factory.LazyAttributeSequence(
        lambda o, n: (
            o.event.record_id
            if o.event
            else str(o.record[id_field(o.entity)])
            if o.record is not None
            else zoho_id(n)
        )
    )
    operation = factory.LazyAttribute(lambda o: o.event.operation if o.event else OPERATION)
    payload = factory.LazyAttribute(
        lambda o: o.record if o.record is not None else zoho_record(o.entity, o.record_id)
    )
    status = "pending"


class DeadLetterFactory(factory.django.DjangoModelFactory):
    """An open dead letter with its dead-lettered entry: a record whose ``rate`` is no number,
    three failed attempts. ``resolved=True``: resolved by an operator."""

    class Meta:
        model = "syncqueue.DeadLetter"

    class Params:
        record = None

    entity = "products"
    record_id = factory.LazyAttributeSequence(
        lambda o, n: str(o.record[id_field(o.entity)]) if o.record is not None else zoho_id(n)
    )
    operation = OPERATION
    payload = factory.LazyAttribute(
        lambda o: (
            o.record if o.record is not None else zoho_record(o.entity, o.record_id, rate="abc")
        )
    )
    error = FAILURE
    traceback = TRACEBACK
    attempts = 3
    entry = factory.SubFactory(
        QueueEntryFactory,
        dead_lettered=True,
        entity=factory.SelfAttribute("..entity"),
        record_id=factory.SelfAttribute("..record_id"),
        operation=factory.SelfAttribute("..operation"),
        payload=factory.SelfAttribute("..payload"),
        attempts=factory.SelfAttribute("..attempts"),
        last_error=factory.SelfAttribute("..error"),
    )
    resolved = False
    resolved_at = factory.Maybe("resolved", factory.LazyFunction(timezone.now), None)
    resolved_by = factory.Maybe("resolved", "ops (admin)", "")
    resolution_note = factory.Maybe("resolved", "corrected in Zoho by hand", "")


class SyncLogFactory(factory.django.DjangoModelFactory):
    """One applied attempt. ``entry=``: the queue entry it was an attempt of (without it,
    the entry id is a made-up number)."""

    class Meta:
        model = "syncqueue.SyncLog"

    class Params:
        entry = None

    entry_id = factory.LazyAttributeSequence(lambda o, n: o.entry.pk if o.entry else n + 1)
    entity = factory.LazyAttribute(lambda o: o.entry.entity if o.entry else "products")
    record_id = factory.LazyAttributeSequence(
        lambda o, n: o.entry.record_id if o.entry else zoho_id(n)
    )
    operation = factory.LazyAttribute(lambda o: o.entry.operation if o.entry else OPERATION)
    attempt = 1
    outcome = "applied"
    duration_ms = Decimal("3.000")
    latency_ms = factory.LazyAttribute(
        lambda o: Decimal("120.000") if o.outcome in ("applied", "stale") else None
    )
    error = factory.LazyAttribute(lambda o: "" if o.outcome in ("applied", "stale") else FAILURE)
    worker = WORKER


class WorkerHeartbeatFactory(factory.django.DjangoModelFactory):
    """A worker that started an hour ago and beat just now."""

    class Meta:
        model = "syncqueue.WorkerHeartbeat"

    host = factory.Sequence(lambda n: f"worker-{n}")
    pid = 4242
    name = factory.LazyAttribute(lambda o: f"{o.host}:{o.pid}")
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    last_beat_at = factory.LazyFunction(timezone.now)


# --- alerts -----------------------------------------------------------------------------


class AlertFactory(factory.django.DjangoModelFactory):
    """An open warning, first seen now; ``status=`` "acknowledged" (by ops) or "resolved"
    (by the monitor) says when. At most one unresolved alert per code may exist."""

    class Meta:
        model = "alerts.Alert"

    code = "queue_backlog"
    severity = "warning"
    message = "600 queue entries pending (threshold 500)"
    value = Decimal(600)
    threshold = Decimal(500)
    status = "open"
    acknowledged_by = factory.LazyAttribute(lambda o: "ops" if o.status == "acknowledged" else "")
    acknowledged_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == "acknowledged" else None
    )
    resolved_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == "resolved" else None
    )


# --- people -----------------------------------------------------------------------------


@cache
def _password_hash(raw: str) -> str:
    """Hashed once per password: hashing is slow on purpose, and tests make many users."""
    return make_password(raw)


class UserFactory(factory.django.DjangoModelFactory):
    """Someone with a login and no staff rights; ``staff=True`` or ``superuser=True``."""

    class Meta:
        model = settings.AUTH_USER_MODEL

    class Params:
        staff = factory.Trait(is_staff=True)
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw-for-tests-1", transform=_password_hash)


class TokenFactory(factory.django.DjangoModelFactory):
    """A REST framework API token (its key is made when saved)."""

    class Meta:
        model = "authtoken.Token"

    user = factory.SubFactory(UserFactory)


class RecordEffectFactory(factory.django.DjangoModelFactory):
    """An effect ledger row: a product's name changed by an event applied just now."""

    class Meta:
        model = "syncqueue.RecordEffect"

    entity = "products"
    record_id = factory.Sequence(lambda n: f"{4600000000000 + n}")
    entry_id = factory.Sequence(lambda n: n + 1)
    operation = "update"
    applied_at = factory.LazyFunction(timezone.now)
    changes = factory.LazyFunction(lambda: {"name": ["Panel", "LED Panel"]})
