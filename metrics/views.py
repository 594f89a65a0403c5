"""GET /metrics (Prometheus) and GET /dashboard/metrics (JSON): the pipeline's figures."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client.exposition import choose_encoder
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.pipeline import pipeline_figures
from metrics.prometheus import REGISTRY
from metrics.serializers import DashboardMetricsSerializer
from tds_site.negotiation import JsonOnly
from tds_site.permissions import StaffOrAllowedAddress

logger = logging.getLogger("tds.metrics")

RETRY_AFTER_SECONDS = "5"


# Prometheus text for scrapers, not part of the JSON API the document describes.
@extend_schema(exclude=True)
class PrometheusMetricsView(APIView):
    """A staff token or session (the project's authentication), or an allowed address.

    Refusals are DRF's JSON (401 with ``WWW-Authenticate: Token``, 403); the figures are
    Prometheus text, or OpenMetrics when the scraper asks for it.
    """

    permission_classes = (StaffOrAllowedAddress,)
    content_negotiation_class = JsonOnly

    def perform_authentication(self, request: Request) -> None:
        # Lazily, when the permission asks for the user: an allowed address is let in
        # without reading (or failing on) any credentials.
        pass

    def get(self, request: Request) -> HttpResponse:
        encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
        return HttpResponse(
            encoder(REGISTRY), content_type=content_type, headers={"Vary": "Accept"}
        )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DatabaseError):
            logger.exception("metrics scrape failed")
            return Response(
                {"error": "database unavailable, retry later"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        return super().handle_exception(exc)


@extend_schema(
    tags=["metrics"],
    summary="Pipeline figures",
    description=(
        "Queue by status, throughput (applied in the last 5 minutes and hour), the failure "
        "rate and apply latency (p50/p99, ms) over the last hour, and the open alerts."
    ),
    responses=DashboardMetricsSerializer,
)
class DashboardMetricsView(APIView):
    def get(self, request: Request) -> Response:
        return Response(DashboardMetricsSerializer(pipeline_figures()).data)
