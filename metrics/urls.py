from django.urls import path, re_path

from metrics import views

app_name = "metrics"

urlpatterns = [
    re_path(r"^metrics/?$", views.PrometheusMetricsView.as_view(), name="prometheus"),
    path("dashboard/metrics", views.DashboardMetricsView.as_view(), name="dashboard-metrics"),
]
