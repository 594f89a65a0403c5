"""``tds_import``: the first full import of every Zoho module, page by page, resumable.

Each page goes the way reconciliation's records go: compared with the ERP and the queue
(what is already there at the same version is not queued again), fetched in full where the
list leaves out lines, and queued as ``update`` events (source ``reconciliation``). The
page's queue entries and the module's checkpoint (``tds_import_checkpoints``) are written
in one transaction, so after a crash the import continues at the first page whose entries
were not committed: no page is lost and none is queued twice. When the daily API budget
runs out part-way through a page, what was fetched is queued and the checkpoint stays on
that page; the next run reads it again and skips what is already queued.

Pages are requested with Zoho's default order. A record deleted in Zoho between two pages
shifts the later ones forward by one; the deletions pass and the change reconciliation
cover what that may hide, and a finished module can be imported again with ``--restart``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction
from django.utils import timezone

from entities.mappings import BY_ENTITY, MAPPINGS
from reconciliation.budget import ApiBudgetExhausted, usage_today
from reconciliation.models import ImportCheckpoint
from reconciliation.reconcile import EntitySummary, page_updates, queue_updates, wake_workers
from reconciliation.zoho_api import ZOHO_LISTS, Page, ZohoClient, ZohoCredentials, ZohoList

logger = logging.getLogger("tds.import")

MODULE_CHOICES: tuple[str, ...] = tuple(ZOHO_LISTS)


class ImportConflict(Exception):
    """Another ``tds_import`` moved the module's checkpoint under this one."""


class ImportStopped(Exception):
    """The daily budget ran out; ``module`` continues at ``page`` next time."""

    def __init__(self, module: str, page: int, reason: ApiBudgetExhausted) -> None:
        self.module, self.page = module, page
        super().__init__(
            f"{reason}. Run tds_import again then: it continues at {module} page {page}"
        )


def module_for(name: str) -> str:
    """A ``--module`` value: a Zoho module key (``item``), its list (``items``) or an ERP
    entity (``products``; ``customers`` and ``vendors`` both mean ``contact``)."""
    for zoho_list in ZOHO_LISTS.values():
        if name in (zoho_list.module, zoho_list.path):
            return zoho_list.module
    if name in BY_ENTITY:
        return BY_ENTITY[name].module
    raise ValueError(f"{name!r} is not one of {', '.join(MODULE_CHOICES)}")


def import_modules(modules: Iterable[str], restart: bool, report: Callable[[str], None]) -> int:
    """Import each module from its checkpoint (from page 1 with ``restart``), calling
    ``report`` with one line per page; returns the entries queued.

    Raises ``ImportStopped`` when the budget runs out, ``ReconciliationOff`` and
    ``ZohoAuthError`` as reconciliation does, ``ZohoApiError`` when Zoho fails a page.
    """
    credentials = ZohoCredentials.from_settings()
    queued = 0
    try:
        with ZohoClient(credentials) as client:
            client.refresh_access_token()
            for module in dict.fromkeys(modules):
                queued += _import_module(client, ZOHO_LISTS[module], restart, report)
    finally:
        if queued:
            wake_workers()
    return queued


def _import_module(
    client: ZohoClient, zoho_list: ZohoList, restart: bool, report: Callable[[str], None]
) -> int:
    checkpoint = _checkpoint(zoho_list.module, restart)
    if checkpoint.finished_at is not None:
        report(
            f"{zoho_list.module}: already imported ({checkpoint.records_seen} records, "
            f"finished {checkpoint.finished_at:%Y-%m-%d %H:%M} UTC); --restart imports it again"
        )
        return 0
    if checkpoint.next_page > 1:
        report(f"{zoho_list.module}: resuming at page {checkpoint.next_page}")
    summaries = {
        m.entity: EntitySummary(m.entity) for m in MAPPINGS if m.module == zoho_list.module
    }
    queued_before = checkpoint.queued
    pages = client.pages(zoho_list, zoho_list.all_filter, first_page=checkpoint.next_page)
    while True:
        try:
            page = next(pages, None)
        except ApiBudgetExhausted as error:  # the list call itself found no budget left
            raise ImportStopped(zoho_list.module, checkpoint.next_page, error) from None
        if page is None:
            break
        checkpoint = _import_page(client, zoho_list, page, checkpoint, summaries, report)
    report(
        f"{zoho_list.module}: done, {checkpoint.pages_done} pages, "
        f"{checkpoint.records_seen} records, {checkpoint.queued} queued"
    )
    return checkpoint.queued - queued_before


def _import_page(
    client: ZohoClient,
    zoho_list: ZohoList,
    page: Page,
    checkpoint: ImportCheckpoint,
    summaries: dict[str, EntitySummary],
    report: Callable[[str], None],
) -> ImportCheckpoint:
    """Queue one page and move the checkpoint past it, in one transaction."""
    updates = page_updates(client, zoho_list, page.records, summaries)
    queued = sum(map(len, updates.by_entity.values()))
    with transaction.atomic():
        queue_updates(updates, summaries)
        checkpoint = _advance(checkpoint, page, queued, whole=updates.stopped is None)
    if updates.stopped is not None:
        report(
            f"{zoho_list.module}: page {page.number} stopped part-way, {queued} queued; "
            "budget left 0"
        )
        raise ImportStopped(zoho_list.module, page.number, updates.stopped)
    report(
        f"{zoho_list.module}: page {page.number}, {checkpoint.records_seen} records so far, "
        f"{checkpoint.queued} queued, budget left {usage_today().remaining}"
    )
    return checkpoint


def _checkpoint(module: str, restart: bool) -> ImportCheckpoint:
    checkpoint, created = ImportCheckpoint.objects.get_or_create(module=module)
    if restart and not created:
        now = timezone.now()
        checkpoint.next_page, checkpoint.pages_done = 1, 0
        checkpoint.records_seen = checkpoint.queued = 0
        checkpoint.started_at = checkpoint.updated_at = now
        checkpoint.finished_at = None
        checkpoint.save()
    return checkpoint


def _advance(
    checkpoint: ImportCheckpoint, page: Page, queued: int, whole: bool
) -> ImportCheckpoint:
    """Move the checkpoint past ``page`` (or, for a page cut short, only count what it
    queued), inside the transaction that queued it. Locked and compared first, so that two
    imports of one module cannot both commit the same page."""
    current = ImportCheckpoint.objects.select_for_update().get(pk=checkpoint.pk)
    if current.next_page != page.number:
        raise ImportConflict(
            f"{current.module}: another tds_import moved on to page {current.next_page} "
            f"while this one read page {page.number}; nothing of it was queued"
        )
    current.queued += queued
    current.updated_at = timezone.now()
    if whole:
        current.next_page = page.number + 1
        current.pages_done += 1
        current.records_seen += len(page.records)
        if not page.has_more:
            current.finished_at = current.updated_at
    current.save()
    return current
