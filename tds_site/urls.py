from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tds_site.views import health

handler404 = "tds_site.views.not_found"

urlpatterns = [
    path("health", health, name="health"),
    path("webhooks/", include("inbox.urls")),
    path("admin/", admin.site.urls),
    path("", include("alerts.urls")),
    path("dashboard/", include("syncqueue.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
