"""The webhook endpoint: parse the HTTP request, hand it to ``ingest_webhook``, answer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import HttpHeaders
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from entities.mappings import WEBHOOK_ENTITIES
from inbox.body import BodyRefused, read_body
from inbox.openapi import ENTITY_PARAMETER, WEBHOOK_BODY, WEBHOOK_PARAMETERS
from inbox.payloads import supported_content_type
from inbox.services import WebhookRequest, ingest_webhook
from inbox.throttling import over_limit
from tds_site.addresses import client_address
from tds_site.negotiation import JsonOnly

logger = logging.getLogger("tds.ingest")

RETRY_AFTER_SECONDS = "5"
WEBHOOK_METHODS = ("POST", "PUT", "DELETE")


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
            return _answer(
                {"error": f"method {request.method} not allowed"},
                status.HTTP_405_METHOD_NOT_ALLOWED,
                headers={"Allow": ", ".join(WEBHOOK_METHODS)},
            )
        try:
            wait = over_limit(client_address(request) or "unknown")
            if wait is not None:
                return _answer(
                    {"error": "rate limit exceeded"},
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(int(wait))},
                )
            return self.post(request, entity)
        except (OperationalError, InterfaceError) as error:
            logger.error("database unavailable during ingest: %s", type(error).__name__)
            return _answer(
                {"error": "database unavailable, retry later"},
                status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )

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
    def post(self, request: HttpRequest, entity: str | None = None) -> JsonResponse:
        if entity is not None and entity not in WEBHOOK_ENTITIES:
            return _answer({"error": f"unknown entity {entity!r}"}, status.HTTP_404_NOT_FOUND)
        meta = request.META
        content_type = meta.get("CONTENT_TYPE", "")
        if not supported_content_type(content_type):
            return _answer(
                {"error": "use application/json or application/x-www-form-urlencoded"},
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            body = read_body(request, settings.WEBHOOK_MAX_BODY_BYTES)
        except BodyRefused as refused:
            return _answer({"error": refused.reason}, refused.status_code)
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
        return _answer(result.body, result.status_code, headers=result.headers)

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


def _answer(body: dict, status_code: int, headers: dict | None = None) -> JsonResponse:
    # Rendered directly: DRF's negotiation and rendering add nothing to a fixed JSON reply.
    return JsonResponse(body, status=status_code, headers=headers)


def _operation_ids(prefix: str, **schema) -> dict:
    methods = ("post", "put", "delete")
    return {m: extend_schema(operation_id=f"{prefix}_{m}", **schema) for m in methods}


@extend_schema_view(**_operation_ids("webhook_any_entity"))
class ZohoGenericWebhookView(ZohoWebhookView):
    """/webhooks/zoho/: the entity is read from the payload."""


@extend_schema_view(**_operation_ids("webhook_for_entity", parameters=[ENTITY_PARAMETER]))
class ZohoEntityWebhookView(ZohoWebhookView):
    """/webhooks/zoho/<entity>/: the entity is named in the path."""
