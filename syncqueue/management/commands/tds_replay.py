"""``tds_replay``: put dead letters back in the queue (CONTRACT §6)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from entities.mappings import BY_ENTITY
from syncqueue.models import DeadLetter
from syncqueue.operations import replay
from syncqueue.replay import ReplayPreview, ReplaySource, ReplayUnavailable, preview_replay
from tds_site.command_arguments import cli_actor, whole_number


class Command(BaseCommand):
    help = "Replay unresolved dead letters: by --id (repeatable), by --entity, or --all."

    def add_arguments(self, parser: CommandParser) -> None:
        # Values are checked in handle() so that a bad one fails with one CommandError line.
        parser.add_argument("--id", action="append", dest="ids", metavar="N", default=[])
        parser.add_argument("--entity", metavar="E")
        parser.add_argument("--all", action="store_true", dest="everything")
        parser.add_argument(
            "--fetch-latest",
            action="store_true",
            help="Replay Zoho's current record (fetched with the reconciliation credentials) "
            "instead of the payload as received, which the dead letter keeps.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the ERP change each replay would make; change nothing.",
        )

    def handle(
        self,
        *args,
        ids: list[str],
        entity: str | None,
        everything: bool,
        fetch_latest: bool,
        dry_run: bool,
        **_,
    ):
        chosen = [
            name
            for name, given in (
                ("--id", ids),
                ("--entity", entity is not None),
                ("--all", everything),
            )
            if given
        ]
        if len(chosen) != 1:
            raise CommandError(
                "selector: give exactly one of --id, --entity or --all"
                + (f" (got {' and '.join(chosen)})" if chosen else "")
            )
        selection = self._select(ids, entity)
        open_ones = selection.filter(resolved=False).order_by("pk")
        found = open_ones.count()
        skipped = selection.filter(resolved=True).count()
        source = ReplaySource.ZOHO if fetch_latest else ReplaySource.RECEIVED
        if dry_run:
            for dead in open_ones.iterator():
                self.stdout.write(
                    f"would replay #{dead.pk} {dead.entity} {dead.record_id} "
                    f"{dead.operation} {source.label}: {dead.error[:100]}"
                )
                self._print_preview(preview_replay(dead, source))
            self.stdout.write(
                f"dry run: {found} dead letter(s) would be replayed, {skipped} already resolved"
            )
            return
        try:
            count = replay(open_ones, actor=cli_actor(), source=source)
        except ReplayUnavailable as error:
            raise CommandError(f"--fetch-latest: {error}") from None
        self.stdout.write(
            f"replayed {count} dead letter(s), {skipped} already resolved (skipped), {source.label}"
        )

    def _print_preview(self, preview: ReplayPreview) -> None:
        if preview.error:
            self.stdout.write(f"    would fail: {preview.error}")
        elif preview.stale:
            self.stdout.write("    would change nothing: the ERP holds a newer version")
        elif not preview.changes:
            self.stdout.write("    would apply, changing no column")
        else:
            for column, (before, after) in sorted(preview.changes.items()):
                self.stdout.write(f"    {column}: {before!r} -> {after!r}")

    def _select(self, ids: list[str], entity: str | None) -> QuerySet[DeadLetter]:
        if ids:
            wanted = {whole_number("--id", value) for value in ids}
            known = set(DeadLetter.objects.filter(pk__in=wanted).values_list("pk", flat=True))
            missing = sorted(wanted - known)
            if missing:
                raise CommandError(f"--id: no dead letter with id {', '.join(map(str, missing))}")
            return DeadLetter.objects.filter(pk__in=wanted)
        if entity is not None:
            if entity not in BY_ENTITY:
                raise CommandError(
                    f"--entity: unknown entity {entity!r} (one of {', '.join(sorted(BY_ENTITY))})"
                )
            return DeadLetter.objects.filter(entity=entity)
        return DeadLetter.objects.all()
