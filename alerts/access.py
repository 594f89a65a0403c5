"""Who may read /metrics: an allowed address, a staff token, or a staff session."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from tds_site.addresses import client_address


@lru_cache(maxsize=8)
def _networks(allowed: frozenset[str]) -> tuple:
    # Entries are addresses or CIDR networks (10.0.0.0/8); a bad one is skipped, not fatal.
    networks = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(networks)


def address_allowed(request: HttpRequest) -> bool:
    address = client_address(request)
    if not address or not settings.METRICS_ALLOWED_IPS:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(frozenset(settings.METRICS_ALLOWED_IPS)))


def _denied(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Token"
    return response


def check_metrics_access(request: HttpRequest) -> JsonResponse | None:
    """None when the request may read the metrics, else the 401/403 response to send."""
    if address_allowed(request):
        return None
    user = None
    if request.META.get("HTTP_AUTHORIZATION"):
        try:
            found = TokenAuthentication().authenticate(request)
        except AuthenticationFailed as error:
            return _denied(401, str(error.detail))
        if found is None:
            return _denied(401, "Use 'Authorization: Token <key>'.")
        user = found[0]
    else:
        session_user = getattr(request, "user", None)
        if session_user is not None and session_user.is_authenticated:
            user = session_user
    if user is None:
        return _denied(401, "Authentication credentials were not provided.")
    if not (user.is_active and user.is_staff):
        return _denied(403, "Staff only.")
    return None
