"""``tds_stats``: the queue figures of ``GET /dashboard/queue-stats``, in the terminal, and
the figures other apps register (``syncqueue.stats.register``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from rest_framework.renderers import JSONRenderer

from syncqueue.api import QueueFiguresSerializer
from syncqueue.models import Status
from syncqueue.stats import other_figures, queue_figures


class Command(BaseCommand):
    help = "Show the sync queue by status and by entity, and the oldest pending age."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the API's JSON instead."
        )

    def handle(self, *args, as_json: bool = False, **_):
        figures = queue_figures()
        stats = QueueFiguresSerializer(figures).data
        others = {figure: figure.read() for figure in other_figures()}
        if as_json:
            stats = {**stats, **{figure.name: value for figure, value in others.items()}}
            rendered = JSONRenderer().render(stats, renderer_context={"indent": 2})
            self.stdout.write(rendered.decode())
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
        age = figures.oldest_pending_age_seconds
        self.stdout.write("oldest pending: " + ("none" if age is None else f"{age:.1f}s ago"))
        for figure, value in others.items():
            self.stdout.write(figure.line(value))
