from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_schedule(sender, using: str = "default", **kwargs) -> None:
    """After ``migrate``, make sure the monitor is scheduled in django-q2."""
    from django.db import DEFAULT_DB_ALIAS, connections

    from alerts.schedule import ensure_schedule

    if using != DEFAULT_DB_ALIAS:
        return
    # A partial migrate (``migrate alerts``) may leave django_q's tables for later.
    if "django_q_schedule" not in connections[using].introspection.table_names():
        return
    ensure_schedule()


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Sent once per app after the whole migrate has run, so every table is there.
        post_migrate.connect(_install_schedule, sender=self, dispatch_uid="tds-alerts-schedule")
