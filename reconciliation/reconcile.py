"""Reconciliation with Zoho (CONTRACT §8): queue what the webhooks missed.

Zoho can lose webhooks. For each entity, read the records changed in Zoho since the last
successful run, compare each with its ERP row by ``zoho_id``, and queue the ones that are
missing or newer through the same queue as webhooks (source ``reconciliation``). The worker
applies them with the same stale-guarded engine, so a webhook that arrives meanwhile is
never overwritten by an older copy, and a queued copy that turns out older is just skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from entities.fields import FieldValueError, to_timestamp, to_zoho_id
from entities.mappings import BY_ENTITY, EntityMapping, mapping_for
from reconciliation.budget import ApiBudgetExhausted, usage_today
from reconciliation.grouping import ALL_ENTITIES, group_by_module
from reconciliation.models import ReconciliationRun, RunKind
from reconciliation.zoho_api import (
    ZOHO_LISTS,
    ReconciliationOff,
    ZohoApiError,
    ZohoClient,
    ZohoCredentials,
    ZohoList,
    missing_credentials,
    zoho_time,
)
from syncqueue import dispatch
from syncqueue.models import NewEvent, QueueEntry, Source
from tds_site.schedules import keep_schedule

logger = logging.getLogger("tds.reconcile")

DEFAULT_LOOKBACK = timedelta(hours=24)
CLOCK_SKEW_MARGIN = timedelta(minutes=5)
# The scheduled task may run this long; an unfinished run younger than this is in progress.
RECONCILE_TASK_SECONDS = 3600


class SinceFrom:
    OPTION = "--since"
    LAST_RUN = "last successful run"
    DEFAULT = "no earlier successful run: the last 24 hours"


@dataclass
class EntitySummary:
    entity: str
    since: datetime | None = None  # None: every record (the first import)
    since_from: str = ""
    seen: int = 0
    missing: int = 0
    stale: int = 0
    queued: int = 0  # with --dry-run: would be queued
    unusable: int = 0  # records without a usable id
    error: str = ""
    out_of_budget: bool = False  # stopped by the daily API budget (``error`` says so)

    @property
    def up_to_date(self) -> int:
        return self.seen - self.missing - self.stale - self.unusable

    @property
    def failed(self) -> bool:
        return bool(self.error)


@dataclass(frozen=True)
class Candidate:
    record_id: str
    last_modified: datetime | None
    record: dict


def reconcile(
    entities: Iterable[str], since: datetime | None = None, dry_run: bool = False
) -> list[EntitySummary]:
    """Reconcile the given ERP entities; one summary each, failures included.

    Raises ``ReconciliationOff`` when credentials are missing and ``ZohoAuthError`` when no
    access token can be had at the start (nothing could be read for any entity then). When
    the daily API budget runs out, the entity at hand fails ``out_of_budget`` and the run
    stops there: the entities after it have no summary.
    """
    credentials = ZohoCredentials.from_settings()
    started = timezone.now().replace(microsecond=0)
    summaries: list[EntitySummary] = []
    queued_any = False
    with ZohoClient(credentials) as client:
        client.refresh_access_token()  # wrong credentials fail once, not once per entity
        for module, group in group_by_module(entities).items():
            results = _reconcile_module(client, ZOHO_LISTS[module], group, since, started, dry_run)
            summaries.extend(results)
            queued_any = queued_any or any(s.queued for s in results)
            if any(s.out_of_budget for s in results):
                break  # the entities after it are not reached: no run is recorded for them
    if queued_any and not dry_run:
        wake_workers()
    return summaries


def _reconcile_module(
    client: ZohoClient,
    zoho_list: ZohoList,
    mappings: list[EntityMapping],
    since: datetime | None,
    started: datetime,
    dry_run: bool,
) -> list[EntitySummary]:
    """One list endpoint (contacts serve two entities) read once, then each page compared."""
    summaries = {m.entity: _summary_for(m.entity, since, started) for m in mappings}
    # Customers and vendors share one read: from the earlier of their two "since"s.
    read_since = min(s.since for s in summaries.values())
    runs = {} if dry_run else _start_runs(summaries.values(), started)
    try:
        changed = {"last_modified_time": zoho_time(read_since)}
        for page in client.pages(zoho_list, changed):
            _reconcile_page(client, zoho_list, page.records, summaries, dry_run)
    except ApiBudgetExhausted as error:
        # Not this entity's fault, and no later entity would fare better: the run stops.
        for summary in summaries.values():
            summary.error = str(error)
            summary.out_of_budget = True
    except ZohoApiError as error:
        for summary in summaries.values():
            summary.error = str(error)
    except Exception as error:
        # Anything else (a database hiccup) fails this entity, not the whole run.
        logger.exception("reconciliation error", extra={"entity": zoho_list.path})
        for summary in summaries.values():
            summary.error = f"{type(error).__name__}: {error}"
    _finish_runs(runs, summaries)
    for summary in summaries.values():
        _log_summary(summary, dry_run)
    return list(summaries.values())


def _summary_for(entity: str, since: datetime | None, started: datetime) -> EntitySummary:
    if since is not None:
        return EntitySummary(entity, since, SinceFrom.OPTION)
    last = last_successful_start(entity)
    if last is not None:
        # Zoho's clock is not ours: overlap the previous run a little rather than leave a
        # gap (what is re-read and already current is counted as up to date, not queued).
        return EntitySummary(entity, last - CLOCK_SKEW_MARGIN, SinceFrom.LAST_RUN)
    return EntitySummary(entity, started - DEFAULT_LOOKBACK, SinceFrom.DEFAULT)


def last_successful_start(entity: str) -> datetime | None:
    return (
        ReconciliationRun.objects.filter(entity=entity, kind=RunKind.CHANGES, succeeded=True)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )


def _start_runs(
    summaries: Iterable[EntitySummary], started: datetime
) -> dict[str, ReconciliationRun]:
    return {
        s.entity: ReconciliationRun.objects.create(
            entity=s.entity, since=s.since, started_at=started
        )
        for s in summaries
    }


def _finish_runs(runs: dict[str, ReconciliationRun], summaries: dict[str, EntitySummary]) -> None:
    finished = timezone.now()
    for entity, run in runs.items():
        summary = summaries[entity]
        run.finished_at = finished
        run.error = summary.error
        run.succeeded = not run.error
        run.seen, run.missing = summary.seen, summary.missing
        run.stale, run.queued = summary.stale, summary.queued
        run.save()


def _reconcile_page(
    client: ZohoClient,
    zoho_list: ZohoList,
    records: list[dict],
    summaries: dict[str, EntitySummary],
    dry_run: bool,
) -> None:
    updates = page_updates(client, zoho_list, records, summaries, fetch_full=not dry_run)
    if dry_run:
        for entity, candidates in updates.by_entity.items():
            summaries[entity].queued += len(candidates)
    else:
        queue_updates(updates, summaries)
    if updates.stopped is not None:
        raise updates.stopped  # after queueing what the budget paid for


@dataclass
class PageUpdates:
    """What one page of a list gives to queue, per entity; ``stopped`` when the daily
    budget ran out while fetching full records (what was fetched before is kept)."""

    by_entity: dict[str, list[Candidate]] = field(default_factory=dict)
    stopped: ApiBudgetExhausted | None = None


def page_updates(
    client: ZohoClient,
    zoho_list: ZohoList,
    records: list[dict],
    summaries: dict[str, EntitySummary],
    fetch_full: bool = True,
) -> PageUpdates:
    """The page's records that are missing from, or newer than, the ERP and not already
    queued (counted in ``summaries``), fetched in full where the list's form lacks lines."""
    updates = PageUpdates()
    for entity, candidates in _page_candidates(zoho_list, records, summaries).items():
        mapping = BY_ENTITY[entity]
        to_queue = _not_already_queued(entity, _classify(mapping, candidates, summaries[entity]))
        if not fetch_full:
            updates.by_entity[entity] = to_queue
            continue
        complete = updates.by_entity.setdefault(entity, [])
        for candidate in to_queue:
            try:
                full = _complete(client, zoho_list, mapping, candidate)
            except ApiBudgetExhausted as error:
                updates.stopped = error
                return updates
            if full is not None:
                complete.append(full)
    return updates


def queue_updates(updates: PageUpdates, summaries: dict[str, EntitySummary]) -> None:
    """Queue a page's updates (in the caller's transaction, if it has one) and count them."""
    for entity, candidates in updates.by_entity.items():
        _queue(BY_ENTITY[entity], candidates)
        summaries[entity].queued += len(candidates)


def _page_candidates(
    zoho_list: ZohoList, records: list[dict], summaries: dict[str, EntitySummary]
) -> dict[str, list[Candidate]]:
    by_entity: dict[str, dict[str, Candidate]] = {}
    for record in records:
        contact_type = record.get("contact_type") if zoho_list.module == "contact" else None
        mapping = mapping_for(zoho_list.module, contact_type)
        if mapping is None or mapping.entity not in summaries:
            continue  # a contact of a type not asked for (or neither customer nor vendor)
        summary = summaries[mapping.entity]
        summary.seen += 1
        candidate = _candidate(mapping, record)
        if candidate is None:
            summary.unusable += 1
            continue
        # A record may show up twice when Zoho's pages shift under us; keep one.
        by_entity.setdefault(mapping.entity, {})[candidate.record_id] = candidate
    return {entity: list(candidates.values()) for entity, candidates in by_entity.items()}


def _candidate(mapping: EntityMapping, record: dict) -> Candidate | None:
    try:
        record_id = to_zoho_id(mapping.id_field, record.get(mapping.id_field))
    except FieldValueError:
        record_id = None
    if record_id is None:
        logger.warning("zoho record without a usable id", extra={"entity": mapping.entity})
        return None
    return Candidate(record_id, _timestamp_or_none(record.get("last_modified_time")), record)


def _timestamp_or_none(value: object) -> datetime | None:
    try:
        return to_timestamp("last_modified_time", value)
    except FieldValueError:
        return None  # the worker names the bad field when it applies the record


def _classify(
    mapping: EntityMapping, candidates: list[Candidate], summary: EntitySummary
) -> list[Candidate]:
    """Missing or stale ones (counted in ``summary``); up-to-date ones drop out."""
    stored = dict(
        mapping.model.objects.filter(zoho_id__in=[c.record_id for c in candidates]).values_list(
            "zoho_id", "zoho_last_modified"
        )
    )
    out_of_date: list[Candidate] = []
    for candidate in candidates:
        if candidate.record_id not in stored:
            summary.missing += 1
        elif _is_newer(candidate.last_modified, stored[candidate.record_id]):
            summary.stale += 1
        else:
            continue
        out_of_date.append(candidate)
    return out_of_date


def _is_newer(in_zoho: datetime | None, in_erp: datetime | None) -> bool:
    if in_zoho is None:
        return False  # nothing says Zoho's copy is newer
    return in_erp is None or in_zoho > in_erp


def _not_already_queued(entity: str, candidates: list[Candidate]) -> list[Candidate]:
    """Drop records whose same (or a newer) version already waits in the queue."""
    if not candidates:
        return []
    waiting: dict[str, list[datetime | None]] = {}
    rows = (
        QueueEntry.objects.unfinished()
        .filter(entity=entity, record_id__in=[c.record_id for c in candidates])
        .values_list("record_id", "payload__last_modified_time")
    )
    for record_id, last_modified in rows:
        waiting.setdefault(record_id, []).append(_timestamp_or_none(last_modified))
    return [c for c in candidates if not _covered(c.last_modified, waiting.get(c.record_id, []))]


def _covered(last_modified: datetime | None, waiting: list[datetime | None]) -> bool:
    if last_modified is None:
        return None in waiting
    return any(other is not None and other >= last_modified for other in waiting)


def _complete(
    client: ZohoClient, zoho_list: ZohoList, mapping: EntityMapping, candidate: Candidate
) -> Candidate | None:
    """The full record when the list's short form lacks the lines the ERP keeps.

    List endpoints leave out ``line_items`` (and price-list items); queuing the short form
    would write a document without its lines, or keep stale ones. None: deleted meanwhile.
    """
    if mapping.lines is None or mapping.lines.key in candidate.record:
        return candidate
    try:
        body = client.get(f"{zoho_list.path}/{candidate.record_id}")
    except ZohoApiError as error:
        if error.status == 404:
            # Deleted in Zoho since the list was read; its delete webhook carries that.
            logger.info("zoho record gone", extra={"entity": mapping.entity})
            return None
        raise
    full = body.get(mapping.module)
    if not isinstance(full, dict):
        raise ZohoApiError(f"GET {zoho_list.path}/{candidate.record_id}: no {mapping.module!r}")
    return Candidate(candidate.record_id, candidate.last_modified, full)


def _queue(mapping: EntityMapping, candidates: list[Candidate]) -> None:
    if not candidates:
        return
    with transaction.atomic():
        QueueEntry.objects.enqueue(
            NewEvent(mapping.entity, c.record_id, "update", c.record, Source.RECONCILIATION)
            for c in candidates
        )


def wake_workers() -> None:
    try:
        dispatch.enqueue_drains(1)
    except Exception:
        # The worker's safety-net poll finds the entries anyway; the run itself succeeded.
        logger.exception("could not dispatch a drain task after reconciliation")


def _log_summary(summary: EntitySummary, dry_run: bool) -> None:
    (logger.warning if summary.failed else logger.info)(
        "reconciliation failed" if summary.failed else "reconciled",
        extra={
            "entity": summary.entity,
            "since": summary.since.isoformat(),
            "seen": summary.seen,
            "missing": summary.missing,
            "stale": summary.stale,
            "queued": summary.queued,
            "dry_run": dry_run,
            "error": summary.error,
        },
    )


def run_in_progress() -> bool:
    """Whether another reconciliation started recently and has not finished."""
    recent = timezone.now() - timedelta(seconds=RECONCILE_TASK_SECONDS)
    return ReconciliationRun.objects.filter(
        finished_at__isnull=True, started_at__gt=recent
    ).exists()


def scheduled_reconcile() -> str:
    """The worker's scheduled task: every entity since its last successful run."""
    return scheduled_pass(reconcile, lambda summary: summary.queued)


def scheduled_pass(run_pass: Callable[[tuple[str, ...]], list], counted: Callable) -> str:
    """A scheduled pass over every entity (reconciliation, deletions), unless another is
    running or the day's API budget is spent; one line of what it did."""
    if run_in_progress():
        # django-q2's ORM broker hands a long task out again after Q_CLUSTER["retry"].
        return "skipped: a reconciliation is already running"
    if usage_today().remaining == 0:
        # Each hour would only fail its first entity again; the api_budget alert is up.
        return "skipped: today's Zoho API budget is used up"
    try:
        summaries = run_pass(ALL_ENTITIES)
    except ReconciliationOff as error:
        return str(error)
    return outcome_line(summaries, sum(counted(summary) for summary in summaries))


class PassSummary(Protocol):
    """What either pass (changes, deletions) reports per entity."""

    entity: str
    error: str


def outcome_line(summaries: Iterable[PassSummary], queued: int) -> str:
    """What a scheduled pass did, for django-q2's task result."""
    failed = [s.entity for s in summaries if s.error]
    return f"queued {queued}" + (f"; failed: {', '.join(failed)}" if failed else "")


SCHEDULE_NAME = "tds-reconcile"
FORMER_SCHEDULE_NAME = "tds_reconcile"  # when reconciliation lived in the inbox app
DELETIONS_SCHEDULE_NAME = "tds-reconcile-deletions"


def ensure_reconcile_schedule() -> tuple[object, bool]:
    """Hourly reconciliation when the Zoho credentials are set; no schedule otherwise, since
    every run would only report that reconciliation is off."""
    from django_q.models import Schedule

    keep_schedule(FORMER_SCHEDULE_NAME, None)
    if missing_credentials():
        keep_schedule(DELETIONS_SCHEDULE_NAME, None)
        return keep_schedule(SCHEDULE_NAME, None)
    # Daily: listing every id costs a call per 200 records of every module, too much to
    # spend each hour out of the daily budget; a missed delete webhook is rarer than a
    # missed change, and an hour's or a day's lag in a deletion harms no one.
    keep_schedule(
        DELETIONS_SCHEDULE_NAME,
        {
            "func": "reconciliation.deletions.scheduled_deletions",
            "schedule_type": Schedule.DAILY,
            "kwargs": f"{{'q_options': {{'timeout': {RECONCILE_TASK_SECONDS}}}}}",
        },
    )
    wanted = {
        "func": f"{__name__}.scheduled_reconcile",
        "schedule_type": Schedule.HOURLY,
        # Longer than the drain tasks' Q_CLUSTER timeout: a first run may page a lot.
        "kwargs": f"{{'q_options': {{'timeout': {RECONCILE_TASK_SECONDS}}}}}",
    }
    return keep_schedule(SCHEDULE_NAME, wanted)
