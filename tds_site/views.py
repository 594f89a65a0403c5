"""Site-wide endpoints that belong to no single app."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from syncqueue.heartbeat import last_beat, live_workers


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers (no login); the workers' liveness rides along."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        workers = live_workers()
        beat = last_beat()
    except DatabaseError:
        return JsonResponse(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": "5"},
        )
    return JsonResponse(
        {
            "status": "ok",
            "database": "ok",
            "workers": len(workers),
            "last_worker_beat": beat.isoformat() if beat else None,
        }
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A JSON 404 for the API (a dashboard id that is no id); the admin keeps its page."""
    if request.path_info.startswith("/admin/"):
        return page_not_found(request, exception)
    return JsonResponse({"error": "not found"}, status=404)
