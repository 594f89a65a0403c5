from django.urls import path

from records import api
from tds_site.routes import either_slash

app_name = "records"

urlpatterns = either_slash(
    [
        path("<str:entity>/<str:zoho_id>", api.RecordTimelineView.as_view(), name="timeline"),
        path("<str:entity>/<str:zoho_id>/hold", api.RecordHoldView.as_view(), name="hold"),
        path("<str:entity>/<str:zoho_id>/release", api.RecordReleaseView.as_view(), name="release"),
    ]
)
