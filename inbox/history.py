"""The inbox's part of ``tds_purge`` and of the running totals behind ``/metrics``."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, QuerySet

from inbox.models import InboxEvent
from syncqueue.models import QueueEntry
from syncqueue.purge import History, Retention, delete_counted, finished
from syncqueue.totals import Total


def purgeable_inbox_events(cutoff: datetime) -> QuerySet[InboxEvent]:
    """Events received before the cutoff whose queue entry is finished or gone, and rejected
    events (they never had one); never the event of an unfinished entry."""
    unfinished = QueueEntry.objects.filter(~finished(), inbox_event_id=OuterRef("pk"))
    return InboxEvent.objects.filter(received_at__lt=cutoff).exclude(Exists(unfinished))


# After the queue entries (which free their events), before the sync logs.
INBOX_EVENTS = History("inbox events", 20, Retention.INBOX, purgeable_inbox_events, delete_counted)

WEBHOOKS = Total("webhooks", InboxEvent, ("validity",), {"requests": Count("id")})
