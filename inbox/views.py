"""The webhook endpoint: parse the HTTP request, hand it to ``ingest_webhook``, answer."""

from __future__ import annotations

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import HttpHeaders
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from inbox.body import BodyRefused, read_body
from inbox.openapi import ENTITY_PARAMETER, WEBHOOK_BODY, WEBHOOK_PARAMETERS
from inbox.services import (
    WEBHOOK_METHODS,
    IngestResult,
    WebhookRequest,
    database_unavailable,
    ingest_webhook,
    method_not_allowed,
    rate_limited,
    refusal_before_body,
)
from inbox.throttling import over_limit
from tds_site.addresses import client_address
from tds_site.negotiation import JsonOnly


class ZohoWebhookView(APIView):
    """Receive one Zoho Books / Zoho Inventory webhook (the entity read from the payload).

    An APIView for the OpenAPI document only: ``dispatch`` serves the request as a plain
    Django view. DRF's request wrapping, negotiation, authentication, permission and
    throttle classes and response finalising were a sixth of a webhook's CPU, and a webhook
    needs none of them: it authenticates by its signature or token, its limit is
    ``over_limit`` and its answer a fixed JSON body.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = ()
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = JsonOnly

    def dispatch(self, request: HttpRequest, entity: str | None = None) -> HttpResponse:
        if request.method not in WEBHOOK_METHODS:
            return _answer(method_not_allowed(request.method or ""))
        try:
            wait = over_limit(client_address(request) or "unknown")
            if wait is not None:
                return _answer(rate_limited(wait))
            return self.post(request, entity)
        except (OperationalError, InterfaceError) as error:
            return _answer(database_unavailable(error))

    @extend_schema(
        request=WEBHOOK_BODY,
        parameters=WEBHOOK_PARAMETERS,
        responses={
            202: OpenApiResponse(description="Accepted and committed."),
            200: OpenApiResponse(description="The same event again."),
            400: OpenApiResponse(description="Authentic but unusable; kept as rejected."),
            401: OpenApiResponse(description="Missing or wrong signature or token."),
            404: OpenApiResponse(description="Unknown entity."),
            411: OpenApiResponse(description="Chunked body the server cannot end; send a length."),
            413: OpenApiResponse(description="Body too large."),
            415: OpenApiResponse(description="Unsupported content type."),
            429: OpenApiResponse(description="Rate limited."),
            503: OpenApiResponse(description="Database unreachable."),
        },
    )
    def post(self, request: HttpRequest, entity: str | None = None) -> HttpResponse:
        meta = request.META
        content_type = meta.get("CONTENT_TYPE", "")
        refusal = refusal_before_body(entity, content_type)
        if refusal is not None:
            return _answer(refusal)
        try:
            body = read_body(request, settings.WEBHOOK_MAX_BODY_BYTES)
        except BodyRefused as refused:
            return _answer(IngestResult(refused.status_code, {"error": refused.reason}))
        result = ingest_webhook(
            WebhookRequest(
                method=request.method or "POST",
                path=request.path,
                path_entity=entity,
                query_string=meta.get("QUERY_STRING", ""),
                content_type=content_type,
                body=body,
                headers=_headers(meta),
                remote_addr=client_address(request),
                request_id=getattr(request, "request_id", ""),
            )
        )
        return _answer(result)

    put = post
    delete = post


def _headers(meta: dict) -> dict[str, str]:
    """``request.headers`` with lower-case names, read straight from the WSGI environ
    (Django's case-insensitive mapping is built for lookups; ingest keeps them all)."""
    return {
        name.removeprefix("HTTP_").replace("_", "-").lower(): value
        for name, value in meta.items()
        if name.startswith("HTTP_") or name in HttpHeaders.UNPREFIXED_HEADERS
    }


def _answer(result: IngestResult) -> JsonResponse:
    # Rendered directly: DRF's negotiation and rendering add nothing to a fixed JSON reply.
    return JsonResponse(result.body, status=result.status_code, headers=result.headers)


def _operation_ids(prefix: str, **schema) -> dict:
    methods = ("post", "put", "delete")
    return {m: extend_schema(operation_id=f"{prefix}_{m}", **schema) for m in methods}


@extend_schema_view(**_operation_ids("webhook_any_entity"))
class ZohoGenericWebhookView(ZohoWebhookView):
    """/webhooks/zoho/: the entity is read from the payload."""


@extend_schema_view(**_operation_ids("webhook_for_entity", parameters=[ENTITY_PARAMETER]))
class ZohoEntityWebhookView(ZohoWebhookView):
    """/webhooks/zoho/<entity>/: the entity is named in the path."""
