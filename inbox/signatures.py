"""Zoho's ``X-Zoho-Webhook-Signature``: HMAC-SHA256 over sorted pairs plus the raw body.

The exact rule is in shared/spec/zoho-webhooks.md §3: query pairs (and form fields, for a
form body) sorted by key in code-point order, joined as key+value with no separators, then
the raw JSON body exactly as received; lowercase hex of HMAC-SHA256 keyed with the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def canonical_message(query_string: str, content_type: str, raw_body: bytes) -> str:
    """The text Zoho signs. Raises UnicodeDecodeError for a body that is not UTF-8."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    body = raw_body.decode("utf-8")
    if media_type(content_type) == FORM_CONTENT_TYPE:
        pairs += parse_qsl(body, keep_blank_values=True)
        body = ""
    pairs.sort(key=lambda pair: pair[0])  # stable: repeated keys keep arrival order
    return "".join(key + value for key, value in pairs) + body


def sign(secret: str, query_string: str, content_type: str, raw_body: bytes) -> str:
    message = canonical_message(query_string, content_type, raw_body)
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(
    secrets: Iterable[str],
    signature: str,
    query_string: str,
    content_type: str,
    raw_body: bytes,
) -> bool:
    """True when ``signature`` matches under any of ``secrets`` (rotation); constant-time."""
    secrets = tuple(secrets)
    if not secrets or not signature:
        return False
    try:
        message = canonical_message(query_string, content_type, raw_body).encode("utf-8")
    except UnicodeDecodeError:
        return False
    given = signature.strip().lower().encode("ascii", errors="replace")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
        # Check every secret, so timing does not tell which one (if any) matched.
        matched |= hmac.compare_digest(expected.encode("ascii"), given)
    return matched
