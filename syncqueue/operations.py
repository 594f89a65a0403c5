"""What operators do to the queue by hand: retry, give up, replay, resolve.

Shared by the admin, the dashboard API and the management commands, so that each surface
stays a thin layer and every change records who made it (``actor``). ``user`` (when the
change comes from a logged-in person) also gets an entry in Django's admin history.
"""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from syncqueue.dispatch import request_drain
from syncqueue.models import DeadLetter, Outcome, QueueEntry, Status
from syncqueue.replay import ReplaySource, replay_dead_letters


def _audit(user: Model | None, queryset: QuerySet, message: str) -> None:
    """One admin-history row per object (a single INSERT), when a person did it."""
    if user is not None and getattr(user, "pk", None) is not None:
        LogEntry.objects.log_actions(user.pk, queryset, CHANGE, change_message=message)


def _plain(model: type[Model], queryset: QuerySet) -> QuerySet:
    """The same rows without the caller's joins and ordering, so they can be locked.

    (An admin queryset may join other tables; PostgreSQL refuses FOR UPDATE on the
    nullable side of an outer join.)
    """
    return model.objects.filter(pk__in=queryset.order_by().values("pk"))


def replay(
    dead_letters: QuerySet[DeadLetter],
    actor: str,
    user: Model | None = None,
    source: ReplaySource = ReplaySource.RECEIVED,
) -> int:
    """Re-queue the unresolved dead letters among ``dead_letters``, as received or from
    Zoho's current record (raises ``ReplayUnavailable``); returns how many."""
    # Fix the set before replaying, so that the history names exactly what was replayed.
    ids = list(_plain(DeadLetter, dead_letters).filter(resolved=False).values_list("pk", flat=True))
    with transaction.atomic():
        count = replay_dead_letters(DeadLetter.objects.filter(pk__in=ids), actor, source)
        _audit(
            user,
            DeadLetter.objects.filter(pk__in=ids),
            f"Replayed {ReplaySource(source).label} by {actor}.",
        )
        transaction.on_commit(request_drain)
    return count


def resolve(
    dead_letters: QuerySet[DeadLetter], actor: str, note: str, user: Model | None = None
) -> int:
    """Close unresolved dead letters without applying them (the operator dealt with them)."""
    with transaction.atomic():
        ids = list(
            _plain(DeadLetter, dead_letters)
            .filter(resolved=False)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        DeadLetter.objects.filter(pk__in=ids).update(
            resolved=True, resolved_at=timezone.now(), resolved_by=actor, resolution_note=note
        )
        _audit(user, DeadLetter.objects.filter(pk__in=ids), f"Resolved by {actor}: {note}")
    return len(ids)


def retry_now(entries: QuerySet[QueueEntry], actor: str, user: Model | None = None) -> int:
    """Make failed entries due at once instead of after their retry delay."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _plain(QueueEntry, entries)
            .filter(status=Status.FAILED)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        QueueEntry.objects.filter(pk__in=ids, status=Status.FAILED).update(
            status=Status.PENDING, next_attempt_at=now, updated_at=now
        )
        _audit(user, QueueEntry.objects.filter(pk__in=ids), f"Retry now, by {actor}.")
        transaction.on_commit(request_drain)
    return len(ids)


def give_up(entries: QuerySet[QueueEntry], actor: str, note: str, user: Model | None = None) -> int:
    """Dead-letter unfinished entries on purpose, with the operator's note as the error.

    An entry a worker holds right now is safe to take: the worker's completion checks the
    status and its claim token, so it rolls back instead of overwriting this.
    """
    now = timezone.now()
    error = f"Dead-lettered by {actor}: {note}"
    with transaction.atomic():
        taken = list(_plain(QueueEntry, entries).unfinished().select_for_update())
        for entry in taken:
            DeadLetter.open_for(
                entry.pk, entry, error=error, traceback="", attempts=entry.attempts, at=now
            )
        ids = [entry.pk for entry in taken]
        QueueEntry.objects.filter(pk__in=ids).update(
            status=Status.DEAD_LETTER,
            outcome=Outcome.DEAD_LETTER,
            last_error=error,
            locked_by="",
            locked_until=None,
            claim_token="",
            updated_at=now,
        )
        _audit(user, QueueEntry.objects.filter(pk__in=ids), error)
    return len(ids)
