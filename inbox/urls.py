from django.urls import re_path
from drf_spectacular.utils import extend_schema, extend_schema_view

from inbox.views import ZohoWebhookView

app_name = "inbox"


def _view(prefix: str):
    """The webhook view under operation ids of its own: two routes sharing one view collide
    in the OpenAPI document, which `check --deploy` reports as warnings."""
    ids = {m: extend_schema(operation_id=f"{prefix}_{m}") for m in ("post", "put", "delete")}
    return extend_schema_view(**ids)(type(f"{prefix}_view", (ZohoWebhookView,), {})).as_view()


urlpatterns = [
    re_path(r"^zoho/?$", _view("webhooks_zoho"), name="zoho"),
    re_path(r"^zoho/(?P<entity>[^/]+)/?$", _view("webhooks_zoho_entity"), name="zoho-entity"),
]
