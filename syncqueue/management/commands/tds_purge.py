"""``tds_purge``: delete finished history older than the retention period, in batches."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from syncqueue.purge import (
    BATCH_SIZE,
    Retention,
    count_purgeable,
    histories,
    purge,
    retention_cutoffs,
    retention_days,
)
from tds_site.command_arguments import whole_number

KEPT = (
    ("inbox and queue", Retention.INBOX),
    ("sync logs", Retention.LOGS),
    ("record effects", Retention.LEDGER),
)


class Command(BaseCommand):
    help = (
        "Delete completed queue entries, their inbox events, old sync logs and old effect "
        "ledger rows. Keeps INBOX_RETENTION_DAYS of inbox and queue, LOG_RETENTION_DAYS of "
        "logs and LEDGER_RETENTION_DAYS of the ledger unless --days is given. Never deletes "
        "unfinished or unresolved events."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", metavar="N", help="Keep N days of everything (0: purge all finished history)."
        )
        parser.add_argument("--batch-size", metavar="N", default=str(BATCH_SIZE))
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, days: str | None, batch_size: str, dry_run: bool, **_):
        batch = whole_number("--batch-size", batch_size)
        keep = None if days is None else whole_number("--days", days, minimum=0)
        days_kept = retention_days(keep)
        cutoffs = retention_cutoffs(timezone.now(), keep)
        kept = ", ".join(
            f"{what} since {cutoffs[retention]:%Y-%m-%d %H:%M} ({days_kept[retention]} days)"
            for what, retention in KEPT
        )
        self.stdout.write(f"keeping {kept}")
        started = time.monotonic()
        if dry_run:
            counts = count_purgeable(cutoffs)
            verb = "would delete"
        else:
            counts = purge(cutoffs, batch, progress=self._progress)
            verb = "deleted"
        what = ", ".join(f"{counts[history.name]} {history.name}" for history in histories())
        self.stdout.write(
            f"{'dry run: ' if dry_run else ''}{verb} {what} in {time.monotonic() - started:.1f}s"
        )

    def _progress(self, what: str, deleted: int, total: int) -> None:
        self.stdout.write(f"  {what}: {deleted}/{total}")
