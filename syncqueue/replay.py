"""Putting dead letters back in the queue for a fresh cycle of attempts."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from syncqueue.models import DeadLetter, QueueEntry, Status


def replay_dead_letters(dead_letters: QuerySet[DeadLetter], actor: str = "") -> int:
    """Re-queue the unresolved ones among ``dead_letters``; returns how many.

    The dead letter stays open until its event applies (the worker resolves it then), so
    an event that fails again is still visible, with its new error, in the same place.
    """
    now = timezone.now()
    with transaction.atomic():
        open_ones = dead_letters.filter(resolved=False).select_for_update()
        entry_ids = list(open_ones.values_list("entry_id", flat=True))
        if not entry_ids:
            return 0
        QueueEntry.objects.filter(id__in=entry_ids, status=Status.DEAD_LETTER).update(
            status=Status.PENDING,
            attempts=0,
            lost_leases=0,
            replayed=True,
            next_attempt_at=now,
            claim_token="",
            updated_at=now,
        )
        DeadLetter.objects.filter(entry_id__in=entry_ids).update(
            replay_count=F("replay_count") + 1, replayed_at=now, replayed_by=actor
        )
    return len(entry_ids)
