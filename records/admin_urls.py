"""The console's record pages, under /admin/ (see ``records.admin_views``)."""

from django.contrib import admin
from django.urls import path

from records import admin_views

urlpatterns = [
    path(
        "record/<str:entity>/<str:zoho_id>/",
        admin.site.admin_view(admin_views.timeline),
        name="admin-record-timeline",
    ),
    path(
        "record/<str:entity>/<str:zoho_id>/hold/",
        admin.site.admin_view(admin_views.hold),
        name="admin-record-hold",
    ),
    path(
        "replay/<int:pk>/",
        admin.site.admin_view(admin_views.replay_preview),
        name="admin-replay-preview",
    ),
]
