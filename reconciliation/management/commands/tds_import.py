"""``manage.py tds_import``: the first full import of the Zoho modules, resumable."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reconciliation.importing import (
    MODULE_CHOICES,
    ImportConflict,
    ImportStopped,
    import_modules,
    module_for,
)
from reconciliation.zoho_api import ReconciliationOff, ZohoApiError


class Command(BaseCommand):
    help = (
        "Import every record of the Zoho modules (all of them, or --module) into the queue, "
        "page by page, with a progress line per page. Resumes where a crashed or stopped "
        "run left off; --restart begins again at page 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--module",
            action="append",
            default=[],
            help=f"only this module (repeatable): {', '.join(MODULE_CHOICES)}; list and "
            "entity names (items, products, customers) are understood too",
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="forget the checkpoints of these modules and import them from page 1",
        )

    def handle(self, *args, **options) -> None:
        try:
            modules = [module_for(name) for name in options["module"]] or list(MODULE_CHOICES)
        except ValueError as error:
            raise CommandError(f"--module: {error}") from None
        try:
            queued = import_modules(modules, options["restart"], self._progress)
        except ImportStopped as stopped:
            raise CommandError(f"import stopped: {stopped}") from None
        except (ReconciliationOff, ZohoApiError, ImportConflict) as error:
            # ZohoAuthError is a ZohoApiError; what was committed stays, and a rerun resumes.
            raise CommandError(f"import failed: {error}") from None
        self.stdout.write(f"import complete: {queued} queued by this run")

    def _progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # a progress line is worth seeing before the next page
