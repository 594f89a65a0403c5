"""``manage.py tds_monitor --once``: run the health monitor now and print what it found."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from alerts.models import Code
from alerts.monitor import run_monitor
from alerts.schedule import ensure_monitor_schedule, schedule_minutes


class Command(BaseCommand):
    help = (
        "Run the health monitor once (--once) and print each condition, or (--schedule) "
        "register its django-q2 schedule. The worker runs it every MONITORING_INTERVAL."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="run every check now")
        parser.add_argument(
            "--schedule", action="store_true", help="create or update the worker's schedule"
        )
        # The worker cannot report its own death: the API host's tds-core-watchdog.timer
        # runs `--once --only worker_down`.
        parser.add_argument(
            "--only",
            action="append",
            choices=Code.values,
            default=[],
            metavar="CODE",
            help="with --once, run only this check (repeatable)",
        )

    def handle(self, *args, once: bool, schedule: bool, only: list[str], **options) -> None:
        if not once and not schedule:
            raise CommandError("say --once (run the checks now) or --schedule")
        if only and not once:
            raise CommandError("--only goes with --once")
        if schedule:
            _, created = ensure_monitor_schedule()
            verb = "created" if created else "up to date"
            self.stdout.write(f"schedule {verb}: every {schedule_minutes()} min")
        if not once:
            return
        report = run_monitor(only=only)
        for finding in report.findings:
            level = (finding.severity or "ok").upper()
            self.stdout.write(
                f"{finding.code:<15} {level:<8} {finding.action:<11} {finding.message}"
            )
        for delivery in report.deliveries:
            state = "sent" if delivery.ok else f"FAILED ({delivery.error})"
            self.stdout.write(f"notify alert #{delivery.alert_id} via {delivery.channel}: {state}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} check(s) failed; see the log")
