from django.apps import AppConfig


def _refresh_schedule_on_worker_start(sender, proc_name: str = "", **kwargs) -> None:
    """A restarted worker picks up a changed MONITORING_INTERVAL without a ``migrate``."""
    import logging

    from alerts.schedule import ensure_monitor_schedule

    try:
        ensure_monitor_schedule()
    except Exception:  # never keep a worker from starting over the monitor's schedule
        logging.getLogger("tds.alerts").exception("could not refresh the monitor schedule")


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from alerts.schedule import ensure_monitor_schedule
        from tds_site.schedules import keep_in_step_after_migrate

        keep_in_step_after_migrate(self, ensure_monitor_schedule)
        post_spawn.connect(_refresh_schedule_on_worker_start, dispatch_uid="tds-alerts-spawn")
