from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Webhook inbox"

    def ready(self) -> None:
        from inbox import history
        from syncqueue import purge, totals

        purge.register(history.INBOX_EVENTS)
        totals.register(history.WEBHOOKS)
