from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Webhook inbox"

    def ready(self) -> None:
        from inbox.schedule import register_reconcile_schedule

        # After `migrate` (django_q's tables exist by then), as deploys already run it.
        post_migrate.connect(register_reconcile_schedule, sender=self)
