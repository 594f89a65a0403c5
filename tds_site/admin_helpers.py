"""Pieces every app's admin classes share: read-only display and pretty JSON."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString


def pre(text: str) -> SafeString:
    """Text an operator must read whole (JSON, tracebacks), wrapped and escaped."""
    return format_html(
        '<pre class="tds-pre" style="white-space: pre-wrap; margin: 0">{}</pre>', text
    )


def pretty_json(value: object) -> SafeString:
    return pre(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def admin_link(model_label: str, pk: object, text: str) -> SafeString:
    """A link to an object's admin page, built without loading the object."""
    app_label, model_name = model_label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, text)


def changelist_link(model_label: str, query: str, text: str) -> SafeString:
    app_label, model_name = model_label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


def actor_of(request: HttpRequest) -> str:
    """How the console names a person in DeadLetter.replayed_by / resolved_by."""
    return f"{request.user.get_username()} (admin)"[:150]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History nobody edits by hand: viewing only; changes go through named actions.

    ``has_operate_permission`` (the model's change permission) is what the actions require,
    so object pages stay read-only while staff with that permission can still act.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        codename = f"{opts.app_label}.change_{opts.model_name}"
        return request.user.is_active and request.user.is_staff and request.user.has_perm(codename)
