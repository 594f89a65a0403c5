from django.urls import path

from syncqueue import api
from tds_site.routes import either_slash

app_name = "syncqueue"

urlpatterns = either_slash(
    [
        path("queue-stats", api.QueueStatsView.as_view(), name="queue-stats"),
        path("dead-letters", api.DeadLetterListView.as_view(), name="dead-letters"),
        path(
            "dead-letters/<int:pk>/replay",
            api.DeadLetterReplayView.as_view(),
            name="dead-letter-replay",
        ),
    ]
)
