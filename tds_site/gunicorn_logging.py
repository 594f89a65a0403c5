"""gunicorn's logger, minus the access line when API_ACCESS_LOG is off.

With ``logconfig_dict`` set, gunicorn formats and writes an access line for every request
whatever ``accesslog`` says; under load that is a few percent of the API's CPU.
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger


class TdsGunicornLogger(Logger):
    access_enabled = os.environ.get("API_ACCESS_LOG", "true").lower() == "true"

    def access(self, resp, req, environ, request_time) -> None:
        if self.access_enabled:
            super().access(resp, req, environ, request_time)
