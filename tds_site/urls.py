from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tds_site.routes import either_slash
from tds_site.views import health

handler404 = "tds_site.views.not_found"

urlpatterns = [
    *either_slash([path("health", health, name="health")]),
    path("webhooks/", include("inbox.urls")),
    # Before the admin's own URLs, which would answer 404 for these.
    path("admin/", include("records.admin_urls")),
    path("admin/", admin.site.urls),
    path("", include("alerts.urls")),
    path("", include("metrics.urls")),
    path("dashboard/", include("syncqueue.urls")),
    path("dashboard/records/", include("records.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Its set-up script is a second request (?script), not inline: the CSP admits no inline
    # script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]
