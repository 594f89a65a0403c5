from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation with Zoho"

    def ready(self) -> None:
        from reconciliation.current import current_record
        from reconciliation.reconcile import ensure_reconcile_schedule
        from syncqueue.replay import set_current_record_source
        from tds_site.schedules import keep_in_step_after_migrate

        keep_in_step_after_migrate(self, ensure_reconcile_schedule)
        set_current_record_source(current_record)
