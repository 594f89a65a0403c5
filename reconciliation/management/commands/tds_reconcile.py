"""``manage.py tds_reconcile``: queue the Zoho records that the webhooks missed (CONTRACT §8),
or with ``--deletions`` the deletions they missed."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from reconciliation.deletions import DeletionSummary, find_deletions
from reconciliation.grouping import ENTITY_CHOICES, entities_for
from reconciliation.reconcile import EntitySummary, reconcile
from reconciliation.zoho_api import ReconciliationOff, ZohoAuthError, zoho_time


def parse_since(value: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC unless it has an offset), not in the future."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--since: {value!r} is not an ISO date or datetime (e.g. 2025-03-01 or "
            "2025-03-01T08:00:00+03:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > timezone.now():
        raise CommandError(f"--since: {value!r} is in the future")
    return moment


class Command(BaseCommand):
    help = (
        "Read the records changed in Zoho Books since the last successful run (or --since) "
        "and queue every one that is missing from, or newer than, the ERP tables."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--entity",
            help=f"only this entity: {', '.join(ENTITY_CHOICES)} (contacts = customers + vendors)",
        )
        parser.add_argument(
            "--since",
            help="read records changed after this ISO date or datetime instead of the last run",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="compare and report only: queue nothing, record no run",
        )
        parser.add_argument(
            "--deletions",
            action="store_true",
            help="instead of reading changes, list every id in Zoho (paged) and queue a delete "
            "for each ERP record that Zoho no longer has",
        )

    def handle(self, *args, **options) -> None:
        try:
            entities = entities_for(options["entity"])
        except ValueError as error:
            raise CommandError(f"--entity: {error}") from None
        dry_run: bool = options["dry_run"]
        if options["deletions"]:
            if options["since"] is not None:
                raise CommandError("--since: the deletions pass always lists every id")
            self._deletions(entities, dry_run)
            return
        since = parse_since(options["since"]) if options["since"] is not None else None
        try:
            summaries = reconcile(entities, since, dry_run)
        except (ReconciliationOff, ZohoAuthError) as error:
            raise CommandError(str(error)) from None
        if dry_run:
            self.stdout.write("Dry run: nothing queued, no run recorded.")
        for summary in summaries:
            self.stdout.write(self._line(summary, dry_run))
        self.stdout.write(self._total(summaries, dry_run))
        self._fail_if_any(entities, summaries)

    def _deletions(self, entities: list[str], dry_run: bool) -> None:
        try:
            summaries = find_deletions(entities, dry_run)
        except (ReconciliationOff, ZohoAuthError) as error:
            raise CommandError(str(error)) from None
        if dry_run:
            self.stdout.write("Dry run: deletions not confirmed nor queued, no run recorded.")
        for summary in summaries:
            self.stdout.write(self._deletion_line(summary, dry_run))
        self._fail_if_any(entities, summaries)

    @staticmethod
    def _fail_if_any(
        entities: list[str], summaries: list[EntitySummary] | list[DeletionSummary]
    ) -> None:
        stopped = next((s for s in summaries if s.out_of_budget), None)
        if stopped is not None:
            reached = {s.entity for s in summaries}
            skipped = [entity for entity in entities if entity not in reached]
            later = f"; not reached: {', '.join(skipped)}" if skipped else ""
            raise CommandError(
                f"reconciliation stopped at {stopped.entity}: {stopped.error}{later}"
            )
        failed = [s.entity for s in summaries if s.failed]
        if failed:
            raise CommandError(f"reconciliation failed for: {', '.join(failed)}")

    @staticmethod
    def _deletion_line(summary: DeletionSummary, dry_run: bool) -> str:
        if summary.failed:
            return f"{summary.entity}: FAILED deletions pass: {summary.error}"
        line = (
            f"{summary.entity}: listed in Zoho {summary.seen}, ERP records {summary.compared}, "
            f"not listed {summary.missing}, "
        )
        if dry_run:
            return line + f"would confirm {summary.deleted}"
        return line + (
            f"deleted in Zoho {summary.deleted} (queued), still there {summary.still_there}"
        )

    @staticmethod
    def _line(summary: EntitySummary, dry_run: bool) -> str:
        since = f"since {zoho_time(summary.since)} ({summary.since_from})"
        if summary.failed:
            return f"{summary.entity}: FAILED {since}: {summary.error}"
        queued = "would queue" if dry_run else "queued"
        line = (
            f"{summary.entity}: seen {summary.seen}, missing {summary.missing}, "
            f"stale {summary.stale}, {queued} {summary.queued}, "
            f"up to date {summary.up_to_date}"
        )
        if summary.unusable:
            line += f", without a usable id {summary.unusable}"
        return f"{line} — {since}"

    @staticmethod
    def _total(summaries: list[EntitySummary], dry_run: bool) -> str:
        queued = "would queue" if dry_run else "queued"
        return (
            f"total: seen {sum(s.seen for s in summaries)}, "
            f"missing {sum(s.missing for s in summaries)}, "
            f"stale {sum(s.stale for s in summaries)}, "
            f"{queued} {sum(s.queued for s in summaries)}"
        )
