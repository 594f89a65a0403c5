"""GET /metrics: the Prometheus exposition of ``alerts.metrics``."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import choose_encoder

from alerts.access import check_metrics_access
from alerts.metrics import REGISTRY

logger = logging.getLogger("tds.alerts")


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
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
