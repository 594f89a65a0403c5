from django.urls import path

from alerts import api
from tds_site.routes import either_slash

app_name = "alerts"

urlpatterns = either_slash(
    [
        path("dashboard/alerts", api.AlertListView.as_view(), name="alert-list"),
        path(
            "dashboard/alerts/<int:pk>/acknowledge",
            api.AlertAcknowledgeView.as_view(),
            name="alert-acknowledge",
        ),
    ]
)
