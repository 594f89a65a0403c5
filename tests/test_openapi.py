"""The OpenAPI document: valid, and it lists every operator and webhook endpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = {
    "/webhooks/zoho/{entity}": {"post", "put", "delete"},
    "/webhooks/zoho": {"post", "put", "delete"},
    "/dashboard/queue-stats": {"get"},
    "/dashboard/dead-letters": {"get"},
    "/dashboard/dead-letters/{id}/replay": {"post"},
    # The alerts app's endpoints (CONTRACT §6).
    "/dashboard/metrics": {"get"},
    "/dashboard/alerts": {"get"},
    "/dashboard/alerts/{id}/acknowledge": {"post"},
}


def _paths(schema: dict) -> dict[str, set[str]]:
    return {
        path.rstrip("/"): {m for m in ops if m in ("get", "post", "put", "delete", "patch")}
        for path, ops in schema["paths"].items()
    }


def test_schema_validates_and_lists_every_endpoint():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)  # raises on an invalid document
    paths = _paths(schema)
    for path, methods in EXPECTED.items():
        assert methods <= paths.get(path, set()), path
    stats = schema["paths"]["/dashboard/queue-stats"]["get"]["responses"]["200"]
    assert stats["content"]["application/json"]["schema"]["$ref"].endswith("QueueFigures")
    assert set(schema["components"]["schemas"]["QueueFigures"]["properties"]) == {
        "by_status",
        "by_entity",
        "claimable",
        "oldest_pending_age_seconds",
        "stuck",
        "dead_letters_unresolved",
        "workers_live",
        "held_records",
    }
    replay = schema["paths"]["/dashboard/dead-letters/{id}/replay"]["post"]
    assert "202" in replay["responses"]
    assert {"tokenAuth", "cookieAuth"} <= {k for s in replay["security"] for k in s}


def test_spectacular_command_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(out),
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert set(EXPECTED) <= set(_paths(yaml.safe_load(out.read_text())))


@pytest.mark.django_db
def test_swagger_ui_is_served_from_this_site(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    bundle = admin_client.get(
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    )
    assert bundle.status_code == 200
