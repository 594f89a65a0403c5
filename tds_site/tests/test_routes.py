"""tds_site.routes.either_slash: every route answers with or without its trailing slash,
and the OpenAPI document lists each once, spelled as the contract spells it."""

from __future__ import annotations

import pytest
from django.urls import path, re_path, resolve
from drf_spectacular.generators import SchemaGenerator

from tds_site.routes import either_slash
from tds_site.views import health

# The contract's spelling, then the other one.
SPELLINGS = [
    ("/health", "/health/"),
    ("/metrics", "/metrics/"),
    ("/dashboard/metrics", "/dashboard/metrics/"),
    ("/dashboard/queue-stats", "/dashboard/queue-stats/"),
    ("/dashboard/dead-letters", "/dashboard/dead-letters/"),
    ("/dashboard/dead-letters/7/replay", "/dashboard/dead-letters/7/replay/"),
    ("/dashboard/alerts", "/dashboard/alerts/"),
    ("/dashboard/alerts/7/acknowledge", "/dashboard/alerts/7/acknowledge/"),
    ("/webhooks/zoho/", "/webhooks/zoho"),
    ("/webhooks/zoho/invoices/", "/webhooks/zoho/invoices"),
]


def _view_class(url: str):
    func = resolve(url).func
    return getattr(func, "cls", func)


@pytest.mark.parametrize(("written", "other"), SPELLINGS)
def test_both_spellings_reach_the_same_view(written, other):
    assert _view_class(written) is _view_class(other)
    assert resolve(written).kwargs == resolve(other).kwargs
    assert resolve(written).url_name is not None  # the named route is the contract's spelling


def test_the_document_lists_only_the_contract_spelling():
    paths = set(SchemaGenerator().get_schema(request=None, public=True)["paths"])
    for written, other in SPELLINGS:
        documented = written.replace("/7/", "/{id}/").replace("/invoices/", "/{entity}/")
        if documented in ("/health", "/metrics"):
            continue  # not part of the JSON API
        assert documented in paths
        assert other.replace("/7/", "/{id}/").replace("/invoices", "/{entity}") not in paths


def test_only_path_routes_are_taken():
    with pytest.raises(TypeError):
        either_slash([re_path(r"^health/?$", health)])


def test_a_route_and_its_twin():
    written, twin = either_slash([path("a/<int:pk>", health, {"x": 1}, name="a")])
    assert (str(written.pattern), written.name) == ("a/<int:pk>", "a")
    assert (str(twin.pattern), twin.name, twin.default_args) == ("a/<int:pk>/", None, {"x": 1})
