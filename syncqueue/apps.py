from django.apps import AppConfig


class SyncQueueConfig(AppConfig):
    name = "syncqueue"
    verbose_name = "Sync queue"

    def ready(self) -> None:
        from syncqueue import (
            checks,  # noqa: F401 - registers the system checks
            purge,
            statement_cache,
            totals,
        )
        from tds_site.schedules import keep_in_step_after_migrate

        keep_in_step_after_migrate(self, purge.ensure_purge_schedule)
        statement_cache.widen()
        purge.register(purge.QUEUE_ENTRIES)
        purge.register(purge.SYNC_LOGS)
        purge.register(purge.RECORD_EFFECTS)
        totals.register(totals.SYNC_ATTEMPTS)
        totals.register(totals.APPLY_LATENCY)
