from django.urls import re_path

from inbox.views import ZohoWebhookView

app_name = "inbox"

webhook = ZohoWebhookView.as_view()

urlpatterns = [
    re_path(r"^zoho/?$", webhook, name="zoho"),
    re_path(r"^zoho/(?P<entity>[^/]+)/?$", webhook, name="zoho-entity"),
]
