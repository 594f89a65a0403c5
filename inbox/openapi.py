"""What the OpenAPI document says a webhook request may carry (CONTRACT §3).

Kept apart from the view: it is documentation, built from the entity mappings so that a
new module appears in it by itself. Fuzzers read it too (tests/hostile/test_schema_fuzz.py):
without a described body they would only ever send empty ones.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from entities.mappings import MAPPINGS, WEBHOOK_ENTITIES

_RECORD_ID = {"oneOf": [{"type": "string", "maxLength": 64}, {"type": "integer"}]}


def _record(id_field: str) -> dict:
    return {
        "type": "object",
        "properties": {
            id_field: _RECORD_ID,
            "last_modified_time": {"type": "string", "example": "2025-03-05T14:07:58+0300"},
            "contact_type": {"type": "string", "enum": ["customer", "vendor"]},
        },
        "required": [id_field],
    }


def _default_payloads() -> list[dict]:
    """Zoho's default payload, ``{"<module>": {…record…}}``, one shape per module."""
    by_module = {m.module: m.id_field for m in MAPPINGS}
    return [
        {"type": "object", "properties": {module: _record(id_field)}, "required": [module]}
        for module, id_field in sorted(by_module.items())
    ]


WEBHOOK_BODY = {
    "application/json": {
        "anyOf": [*_default_payloads(), {"type": "object", "description": "the record itself"}]
    },
    "application/x-www-form-urlencoded": {
        "type": "object",
        "properties": {
            "JSONString": {"type": "string", "description": "the record's JSON"},
        },
        "required": ["JSONString"],
    },
}

WEBHOOK_PARAMETERS = [
    OpenApiParameter(
        "X-Zoho-Webhook-Signature",
        str,
        OpenApiParameter.HEADER,
        description="HMAC-SHA256 (hex) of the sorted query and form pairs plus the raw body.",
    ),
    OpenApiParameter("X-TDS-Token", str, OpenApiParameter.HEADER, description="WEBHOOK_TOKEN."),
    OpenApiParameter(
        "X-Zoho-Event", str, OpenApiParameter.HEADER, description="e.g. invoice.updated"
    ),
    OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER),
    OpenApiParameter(
        "operation",
        str,
        enum=["create", "update", "delete"],
        description="Signed with the query string; it decides over X-Zoho-Event and the method.",
    ),
]

ENTITY_PARAMETER = OpenApiParameter(
    "entity", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(WEBHOOK_ENTITIES)
)
