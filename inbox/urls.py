from django.urls import path

from inbox.views import ZohoEntityWebhookView, ZohoGenericWebhookView
from tds_site.routes import either_slash

app_name = "inbox"

# The contract spells these with the trailing slash; without it they are answered too.
urlpatterns = either_slash(
    [
        path("zoho/", ZohoGenericWebhookView.as_view(), name="zoho"),
        path("zoho/<str:entity>/", ZohoEntityWebhookView.as_view(), name="zoho-entity"),
    ]
)
