"""One way to spell a route with or without its trailing slash (APPEND_SLASH is off).

Each app's urls.py writes its routes as the contract spells them, with ``path()``, and wraps
the list in ``either_slash``: the other spelling is answered too, by the same view, with no
redirect, and is left out of the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import URLPattern, path
from django.urls.resolvers import RoutePattern


def either_slash(patterns: Iterable[URLPattern]) -> list[URLPattern]:
    """Each ``path()`` as written (named, documented), then its twin with the trailing slash
    added or removed (unnamed; an API view's twin is excluded from the schema)."""
    routes: list[URLPattern] = []
    for pattern in patterns:
        if not isinstance(pattern.pattern, RoutePattern):
            raise TypeError(f"either_slash takes path() routes, not {pattern.pattern!r}")
        route = str(pattern.pattern)
        twin = route.removesuffix("/") if route.endswith("/") else f"{route}/"
        routes += [pattern, path(twin, _undocumented(pattern.callback), pattern.default_args)]
    return routes


def _undocumented(view):
    """The same DRF view without a schema (DRF's schema generators skip it); a plain Django
    view is in no schema anyway."""
    view_class = getattr(view, "cls", None)
    if view_class is None:
        return view
    return view_class.as_view(**{**view.initkwargs, "schema": None})
