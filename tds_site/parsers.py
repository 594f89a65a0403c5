"""JSON request bodies of the dashboard API: a body nested too deeply to parse is
the client's error (400), not a crash (Python's decoder raises RecursionError, which DRF's
parser does not catch)."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JsonBodyParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
