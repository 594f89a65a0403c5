"""The client's address: X-Forwarded-For is believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(request) -> str | None:
    return client_of(
        request.META.get("REMOTE_ADDR") or None, request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def client_of(peer: str | None, forwarded: str) -> str | None:
    """The client, from the connection's peer and its X-Forwarded-For header."""
    if not forwarded or peer not in settings.TRUSTED_PROXIES:
        return peer
    # Walk from the nearest hop back; the first address that is not one of our
    # proxies is the client.
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if hop not in settings.TRUSTED_PROXIES:
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
