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


def _refresh_schedule_on_worker_start(sender, proc_name: str = "", **kwargs) -> None:
    """A restarted worker picks up a changed MONITORING_INTERVAL without a ``migrate``."""
    import logging

    from alerts.schedule import ensure_schedule

    try:
        ensure_schedule()
    except Exception:  # never keep a worker from starting over the monitor's schedule
        logging.getLogger("tds.alerts").exception("could not refresh the monitor schedule")


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Sent once per app after the whole migrate has run, so every table is there.
        post_migrate.connect(_install_schedule, sender=self, dispatch_uid="tds-alerts-schedule")
        from django_q.signals import post_spawn

        post_spawn.connect(_refresh_schedule_on_worker_start, dispatch_uid="tds-alerts-spawn")
