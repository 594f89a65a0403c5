"""The console's record pages: a record's timeline, and a dead letter's replay preview.

Admin pages (staff login, the admin's look) over the same services as the API:
``records.timeline``, ``syncqueue.holds`` and ``syncqueue.replay``. Every admin list that
shows a record id links here (``tds_site.admin_helpers.record_link``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from entities.mappings import BY_ENTITY
from records.timeline import record_timeline
from syncqueue import operations
from syncqueue.holds import hold_record, release_record
from syncqueue.models import DeadLetter
from syncqueue.replay import ReplaySource, ReplayUnavailable, preview_replay
from tds_site.admin_helpers import actor_of

OPERATE = "syncqueue.change_deadletter"  # replaying and holding: the queue's operators


def _timeline_url(entity: str, zoho_id: str) -> str:
    return reverse("admin-record-timeline", args=[entity, zoho_id])


@require_http_methods(["GET", "HEAD"])
def timeline(request: HttpRequest, entity: str, zoho_id: str) -> HttpResponse:
    if entity not in BY_ENTITY:
        raise Http404(f"unknown entity {entity!r}")
    story = record_timeline(entity, zoho_id)
    context = {
        **admin.site.each_context(request),
        "title": f"{entity} {zoho_id}",
        "timeline": story,
        "erp_fields": sorted((story.erp or {}).items()),
        "events": [
            {
                **event,
                "open_letter": bool(event["dead_letter"] and not event["dead_letter"]["resolved"]),
                "change_rows": _shown(event["changes"]),
            }
            for event in story.events
        ],
        "can_operate": request.user.has_perm(OPERATE),
    }
    return TemplateResponse(request, "admin/records/timeline.html", context)


def _shown(changes: dict[str, list[Any]] | None) -> list[tuple[str, str, str]]:
    """(column, before, after) as an operator reads them; lines as "2 lines, total …"."""
    return [
        (column, _value(before), _value(after))
        for column, (before, after) in (changes or {}).items()
    ]


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, dict):  # a lines summary
        sums = ", ".join(f"{k} {v}" for k, v in value.items() if k != "count")
        return f"{value.get('count', 0)} lines" + (f" ({sums})" if sums else "")
    return str(value)


@require_http_methods(["POST"])
@permission_required(OPERATE, raise_exception=True)
def hold(request: HttpRequest, entity: str, zoho_id: str) -> HttpResponse:
    if entity not in BY_ENTITY:
        raise Http404(f"unknown entity {entity!r}")
    if request.POST.get("action") == "release":
        release_record(entity, zoho_id)
        messages.success(request, f"Released {entity} {zoho_id}: its waiting events apply.")
    else:
        hold_record(entity, zoho_id, actor=actor_of(request))
        messages.success(request, f"Held {entity} {zoho_id}: its new events wait.")
    return HttpResponseRedirect(_timeline_url(entity, zoho_id))


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(OPERATE, raise_exception=True)
def replay_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the dry run of replaying dead letter ``pk`` (``?source=received|zoho``); POST:
    the replay itself, then back to the record's timeline."""
    letter = get_object_or_404(DeadLetter, pk=pk)
    params = request.POST if request.method == "POST" else request.GET
    try:
        source = ReplaySource(params.get("source") or ReplaySource.RECEIVED)
    except ValueError:
        return HttpResponse("source: one of received, zoho", status=400, content_type="text/plain")
    if request.method == "POST":
        try:
            count = operations.replay(
                DeadLetter.objects.filter(pk=pk),
                actor=actor_of(request),
                user=request.user,
                source=source,
            )
        except ReplayUnavailable as error:
            messages.error(request, f"Not replayed: {error}")
        else:
            if count:
                messages.success(request, f"Replayed dead letter {pk} {source.label}.")
            else:
                messages.warning(request, f"Dead letter {pk} is already resolved.")
        return HttpResponseRedirect(_timeline_url(letter.entity, letter.record_id))
    preview = preview_replay(letter, source)
    context = {
        **admin.site.each_context(request),
        "title": f"Replay dead letter {pk} {source.label}?",
        "letter": letter,
        "preview": preview,
        "changes": sorted(_shown(preview.changes)),
        "source": source,
        "sources": ReplaySource.choices,
        "timeline_url": _timeline_url(letter.entity, letter.record_id),
    }
    return TemplateResponse(request, "admin/records/replay_preview.html", context)
