"""GET /metrics (Prometheus) and GET /dashboard/metrics (JSON): the pipeline's figures."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from prometheus_client.exposition import choose_encoder
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.access import check_metrics_access
from metrics.pipeline import pipeline_figures
from metrics.prometheus import REGISTRY
from metrics.serializers import DashboardMetricsSerializer

logger = logging.getLogger("tds.metrics")


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    denied = check_metrics_access(request)
    if denied is not None:
        return denied
    # Prometheus asks for OpenMetrics when it can; anything else gets the text format.
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    try:
        body = encoder(REGISTRY)
    except DatabaseError:
        logger.exception("metrics scrape failed")
        return HttpResponse(
            "database unavailable\n",
            status=503,
            content_type="text/plain",
            headers={"Retry-After": "5"},
        )
    return HttpResponse(body, content_type=content_type)


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
