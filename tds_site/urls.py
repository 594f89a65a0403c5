from django.contrib import admin
from django.urls import include, path

from tds_site.views import health

urlpatterns = [
    path("health", health, name="health"),
    path("webhooks/", include("inbox.urls")),
    path("admin/", admin.site.urls),
    path("", include("alerts.urls")),
]
