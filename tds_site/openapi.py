"""OpenAPI post-processing: what every operation may answer, whatever its view says."""

from __future__ import annotations

from typing import Any

BAD_REQUEST = {
    "description": "Unusable input (a NUL character, invalid UTF-8, a bad filter); no 5xx.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "additionalProperties": True,
            }
        }
    },
}


def document_bad_request(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Any URL may get a 400 (tds_site.request_guard answers before the view does)."""
    for path_item in result["paths"].values():
        for operation in path_item.values():
            operation["responses"].setdefault("400", BAD_REQUEST)
    return result
