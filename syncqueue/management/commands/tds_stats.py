"""``tds_stats``: the queue figures of ``GET /dashboard/queue-stats``, in the terminal."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from syncqueue.models import Status
from syncqueue.stats import queue_stats


class Command(BaseCommand):
    help = "Show the sync queue by status and by entity, and the oldest pending age."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the API's JSON instead."
        )

    def handle(self, *args, as_json: bool = False, **_):
        stats = queue_stats()
        if as_json:
            self.stdout.write(json.dumps(stats, indent=2))
            return
        statuses = list(Status.values)
        width = max([len("entity"), *(len(e) for e in stats["by_entity"])])
        header = f"{'entity':<{width}}  " + "  ".join(f"{s:>11}" for s in statuses)
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for entity, counts in stats["by_entity"].items():
            self.stdout.write(
                f"{entity:<{width}}  " + "  ".join(f"{counts[s]:>11}" for s in statuses)
            )
        self.stdout.write(
            f"{'all':<{width}}  " + "  ".join(f"{stats['by_status'][s]:>11}" for s in statuses)
        )
        self.stdout.write(f"claimable now: {stats['claimable']}")
        age = stats["oldest_pending_age_seconds"]
        self.stdout.write("oldest pending: " + ("none" if age is None else f"{age:.1f}s ago"))
