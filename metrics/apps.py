from django.apps import AppConfig


class MetricsConfig(AppConfig):
    """The pipeline's figures, shown: /metrics, GET /dashboard/metrics, the admin's front page.

    It computes nothing of its own (``syncqueue.stats`` does); like ``alerts`` it may read
    every other app, and no other app imports it.
    """

    name = "metrics"
    verbose_name = "Metrics"
