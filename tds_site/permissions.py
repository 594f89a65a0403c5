"""DRF permissions beyond DRF's own."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tds_site.addresses import client_address


class StaffOrAllowedAddress(BasePermission):
    """Active staff (a token or a session), or a client address in METRICS_ALLOWED_IPS.

    The address is asked first: a view that authenticates lazily (``/metrics``) then reads no
    credentials from a listed address, so a scraper there needs none.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if address_allowed(request, settings.METRICS_ALLOWED_IPS):
            return True
        user = request.user
        return bool(user and user.is_active and user.is_staff)


def address_allowed(request: Request, allowed: frozenset[str]) -> bool:
    """Whether the client's address (``client_address``: X-Forwarded-For only from
    TRUSTED_PROXIES) is one of ``allowed``, addresses or CIDR networks."""
    address = client_address(request)
    if not address or not allowed:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(frozenset(allowed)))


@lru_cache(maxsize=8)
def _networks(allowed: frozenset[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # Entries are addresses or CIDR networks (10.0.0.0/8); a bad one is skipped, not fatal.
    networks = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(networks)
