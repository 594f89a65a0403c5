from django.urls import path
from drf_spectacular.utils import extend_schema

from alerts import api

app_name = "alerts"


def _slash_variant(view_class):
    """The same view for the trailing-slash spelling, left out of the OpenAPI document."""
    variant = type(f"{view_class.__name__}Slash", (view_class,), {})
    return extend_schema(exclude=True)(variant).as_view()


# The contract spells these without a trailing slash; the slash is tolerated too, like the
# webhook routes (APPEND_SLASH is off).
urlpatterns = [
    path("dashboard/alerts", api.AlertListView.as_view(), name="alert-list"),
    path("dashboard/alerts/", _slash_variant(api.AlertListView)),
    path(
        "dashboard/alerts/<int:pk>/acknowledge",
        api.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
    path("dashboard/alerts/<int:pk>/acknowledge/", _slash_variant(api.AlertAcknowledgeView)),
]
