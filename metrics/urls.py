from django.urls import path

from metrics import views
from tds_site.routes import either_slash

app_name = "metrics"

urlpatterns = either_slash(
    [
        path("metrics", views.PrometheusMetricsView.as_view(), name="prometheus"),
        path("dashboard/metrics", views.DashboardMetricsView.as_view(), name="dashboard-metrics"),
    ]
)
