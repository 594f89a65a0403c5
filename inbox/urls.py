from django.urls import re_path

from inbox.views import ZohoEntityWebhookView, ZohoGenericWebhookView

app_name = "inbox"

urlpatterns = [
    re_path(r"^zoho/?$", ZohoGenericWebhookView.as_view(), name="zoho"),
    re_path(r"^zoho/(?P<entity>[^/]+)/?$", ZohoEntityWebhookView.as_view(), name="zoho-entity"),
]
