"""Deletions that never arrived as webhooks: compare Zoho's id set with the ERP's.

Zoho's list calls are the cheapest way to learn which records exist (200 a call, summaries
only). For each module every page is read; only once the listing is complete are the ERP's
live ids compared with it, so a listing that fails half-way deletes nothing. An ERP id that
is not listed is confirmed with a GET of the record before anything is queued: pages can
shift while they are read (a record deleted on page 1 moves one from page 2 to page 1, and
it is never seen), and a 404 is the only proof of a deletion. Confirmed ones are queued as
``delete`` events through the same queue as webhooks (source ``reconciliation``); the
engine's tombstone keeps them deleted unless a newer change arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from entities.fields import FieldValueError, to_zoho_id
from entities.mappings import EntityMapping, mapping_for
from reconciliation.budget import ApiBudgetExhausted
from reconciliation.grouping import group_by_module
from reconciliation.models import ReconciliationRun, RunKind
from reconciliation.reconcile import scheduled_pass
from reconciliation.zoho_api import (
    ZOHO_LISTS,
    ZohoApiError,
    ZohoClient,
    ZohoCredentials,
    ZohoList,
)
from syncqueue.models import NewEvent, QueueEntry, Source

logger = logging.getLogger("tds.reconcile")

DELETE = "delete"  # the operation the engine applies as a tombstone


@dataclass
class DeletionSummary:
    entity: str
    seen: int = 0  # ids of this entity listed in Zoho
    compared: int = 0  # live ERP records compared with the listing
    missing: int = 0  # live in the ERP, not listed
    deleted: int = 0  # missing and confirmed gone: queued as deletes (dry run: not confirmed)
    still_there: int = 0  # missing from the listing, yet Zoho still has them
    error: str = ""
    out_of_budget: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.error)


def find_deletions(entities: Iterable[str], dry_run: bool = False) -> list[DeletionSummary]:
    """Queue a delete for every live ERP record of ``entities`` that Zoho no longer has.

    With ``dry_run`` the listing is compared but nothing is confirmed, queued or recorded.
    Raises ``ReconciliationOff`` without credentials and ``ZohoAuthError`` without a token;
    the daily budget running out fails the entity at hand and stops there.
    """
    credentials = ZohoCredentials.from_settings()
    summaries: list[DeletionSummary] = []
    with ZohoClient(credentials) as client:
        client.refresh_access_token()
        for module, mappings in group_by_module(entities).items():
            results = _module_deletions(client, ZOHO_LISTS[module], mappings, dry_run)
            summaries.extend(results)
            if any(s.out_of_budget for s in results):
                break
    return summaries


def _module_deletions(
    client: ZohoClient, zoho_list: ZohoList, mappings: list[EntityMapping], dry_run: bool
) -> list[DeletionSummary]:
    summaries = {m.entity: DeletionSummary(m.entity) for m in mappings}
    listed_at = timezone.now()
    runs = {} if dry_run else _start_runs(summaries, listed_at)
    try:
        in_zoho = _listed_ids(client, zoho_list, mappings[0].id_field, summaries)
        # Only now, with the listing complete, may an absent id mean anything.
        for mapping in mappings:
            summary = summaries[mapping.entity]
            missing = _missing(mapping, in_zoho, listed_at, summary)
            if not dry_run:
                _confirm_and_queue(client, zoho_list, mapping, missing, summary)
            else:
                summary.deleted = len(missing)
    except ApiBudgetExhausted as error:
        for summary in summaries.values():
            summary.error, summary.out_of_budget = str(error), True
    except ZohoApiError as error:
        for summary in summaries.values():
            summary.error = str(error)
    except Exception as error:
        logger.exception("deletions pass error", extra={"entity": zoho_list.path})
        for summary in summaries.values():
            summary.error = f"{type(error).__name__}: {error}"
    _finish_runs(runs, summaries)
    return list(summaries.values())


def _listed_ids(
    client: ZohoClient,
    zoho_list: ZohoList,
    id_field: str,
    summaries: dict[str, DeletionSummary],
) -> set[str]:
    """Every id Zoho lists for the module, of any contact type: a contact that turned from
    customer to vendor is not deleted."""
    ids: set[str] = set()
    for page in client.pages(zoho_list, zoho_list.all_filter):
        for record in page.records:
            try:
                record_id = to_zoho_id(id_field, record.get(id_field))
            except FieldValueError:
                record_id = None
            if record_id is None:
                continue
            ids.add(record_id)
            contact_type = record.get("contact_type") if zoho_list.module == "contact" else None
            mapping = mapping_for(zoho_list.module, contact_type)
            if mapping is not None and mapping.entity in summaries:
                summaries[mapping.entity].seen += 1
    return ids


def _missing(
    mapping: EntityMapping, in_zoho: set[str], listed_at: datetime, summary: DeletionSummary
) -> list[str]:
    """Live ERP ids not listed, leaving out rows written after the listing began (created
    meanwhile, perhaps after their page was read) and records whose delete already waits."""
    live = mapping.model.objects.filter(is_deleted=False, synced_at__lt=listed_at)
    erp_ids = list(live.values_list("zoho_id", flat=True))
    summary.compared = len(erp_ids)
    absent = sorted(set(erp_ids) - in_zoho)
    summary.missing = len(absent)
    waiting = set(
        QueueEntry.objects.unfinished()
        .filter(entity=mapping.entity, operation=DELETE, record_id__in=absent)
        .values_list("record_id", flat=True)
    )
    return [record_id for record_id in absent if record_id not in waiting]


def _confirm_and_queue(
    client: ZohoClient,
    zoho_list: ZohoList,
    mapping: EntityMapping,
    missing: list[str],
    summary: DeletionSummary,
) -> None:
    gone: list[str] = []
    try:
        for record_id in missing:
            if _gone(client, zoho_list, record_id):
                gone.append(record_id)
            else:
                summary.still_there += 1
    finally:
        # What is confirmed stays confirmed, even if a later check fails.
        _queue_deletes(mapping, gone)
        summary.deleted = len(gone)


def _gone(client: ZohoClient, zoho_list: ZohoList, record_id: str) -> bool:
    try:
        client.get(f"{zoho_list.path}/{record_id}")
    except ZohoApiError as error:
        if error.status == 404:
            return True
        raise
    return False


def _queue_deletes(mapping: EntityMapping, record_ids: list[str]) -> None:
    if not record_ids:
        return
    with transaction.atomic():
        QueueEntry.objects.enqueue(
            NewEvent(
                mapping.entity,
                record_id,
                DELETE,
                {mapping.id_field: record_id},  # as sparse as Zoho's own delete webhooks
                Source.RECONCILIATION,
            )
            for record_id in record_ids
        )
    logger.info("deletions queued", extra={"entity": mapping.entity, "count": len(record_ids)})


def _start_runs(
    summaries: dict[str, DeletionSummary], started: datetime
) -> dict[str, ReconciliationRun]:
    return {
        entity: ReconciliationRun.objects.create(
            entity=entity, kind=RunKind.DELETIONS, since=started, started_at=started
        )
        for entity in summaries
    }


def _finish_runs(runs: dict[str, ReconciliationRun], summaries: dict[str, DeletionSummary]) -> None:
    finished = timezone.now()
    for entity, run in runs.items():
        summary = summaries[entity]
        run.finished_at, run.error, run.succeeded = finished, summary.error, not summary.error
        run.seen, run.missing = summary.seen, summary.missing
        run.deleted = run.queued = summary.deleted
        run.save()


def scheduled_deletions() -> str:
    """The worker's daily task: the deletions pass over every entity."""
    return scheduled_pass(find_deletions, lambda summary: summary.deleted)
