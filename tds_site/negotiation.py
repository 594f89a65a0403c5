"""DRF content negotiation for endpoints whose clients do not read JSON."""

from __future__ import annotations

from rest_framework.negotiation import BaseContentNegotiation


class JsonOnly(BaseContentNegotiation):
    """The view's first renderer whatever Accept says, and no parser.

    For Zoho's webhooks (Zoho reads nothing but the status) and /metrics (whose body is
    Prometheus text, negotiated by the view): DRF's own answers, errors among them, stay JSON
    instead of becoming a 406 for a client that accepts only text.
    """

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
