"""``tds_purge``: delete finished history older than the retention period, in batches."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from syncqueue.purge import (
    BATCH_SIZE,
    Retention,
    count_purgeable,
    histories,
    purge,
    retention_cutoffs,
)
from tds_site.command_arguments import whole_number


class Command(BaseCommand):
    help = (
        "Delete completed queue entries, their inbox events and old sync logs. Keeps "
        "INBOX_RETENTION_DAYS of inbox and queue and LOG_RETENTION_DAYS of logs unless "
        "--days is given. Never deletes unfinished or unresolved events."
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
        inbox_days = settings.INBOX_RETENTION_DAYS if keep is None else keep
        log_days = settings.LOG_RETENTION_DAYS if keep is None else keep
        cutoffs = retention_cutoffs(timezone.now(), keep)
        inbox_cutoff, log_cutoff = cutoffs[Retention.INBOX], cutoffs[Retention.LOGS]
        self.stdout.write(
            f"keeping inbox and queue since {inbox_cutoff:%Y-%m-%d %H:%M} ({inbox_days} days), "
            f"sync logs since {log_cutoff:%Y-%m-%d %H:%M} ({log_days} days)"
        )
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
