"""Send a webhook signed exactly as Zoho signs it, and print the answer.

    python manage.py tds_send_webhook invoices invoice.json \
        --url https://host/tds/webhooks/zoho/invoices/ --secret S
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from django.core.management.base import BaseCommand, CommandError

from entities.mappings import WEBHOOK_ENTITIES
from inbox.signatures import FORM_CONTENT_TYPE, sign


class Command(BaseCommand):
    help = "Send a Zoho-signed (or token-authenticated) webhook to a TDS Core deployment."

    def add_arguments(self, parser) -> None:
        parser.add_argument("entity", help=f"one of: {', '.join(sorted(WEBHOOK_ENTITIES))}")
        parser.add_argument("payload", help="path to a JSON file (Zoho's default payload)")
        parser.add_argument("--url", required=True, help="the webhook URL, query string allowed")
        auth = parser.add_mutually_exclusive_group()
        auth.add_argument("--secret", help="sign with this webhook secret")
        auth.add_argument("--token", help="send this WEBHOOK_TOKEN in X-TDS-Token instead")
        parser.add_argument("--form", action="store_true", help="send as a form (JSONString)")
        parser.add_argument("--event", default="", help="X-Zoho-Event header, e.g. invoice.updated")
        parser.add_argument("--method", default="POST", choices=("POST", "PUT", "DELETE"))
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, **options) -> None:
        if options["entity"] not in WEBHOOK_ENTITIES:
            raise CommandError(
                f"entity: {options['entity']!r} is not one of {sorted(WEBHOOK_ENTITIES)}"
            )
        path = Path(options["payload"])
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"payload: cannot read {path} ({error.strerror})") from None
        except ValueError as error:
            raise CommandError(f"payload: {path} is not valid JSON ({error})") from None
        url = options["url"]
        if urlsplit(url).scheme not in ("http", "https"):
            raise CommandError(f"--url: {url!r} is not an http(s) URL")

        if options["form"]:
            content_type = FORM_CONTENT_TYPE
            body = urlencode({"JSONString": json.dumps(document, ensure_ascii=False)}).encode()
        else:
            content_type = "application/json"
            body = path.read_bytes()  # byte for byte, as Zoho would sign it
        headers = {"Content-Type": content_type}
        if options["event"]:
            headers["X-Zoho-Event"] = options["event"]
        if options["secret"]:
            query = urlsplit(url).query
            headers["X-Zoho-Webhook-Signature"] = sign(options["secret"], query, content_type, body)
        elif options["token"]:
            headers["X-TDS-Token"] = options["token"]

        try:
            response = httpx.request(
                options["method"], url, content=body, headers=headers, timeout=options["timeout"]
            )
        except httpx.HTTPError as error:
            raise CommandError(f"--url: could not reach {url} ({type(error).__name__})") from None
        self.stdout.write(f"{response.status_code} {response.reason_phrase}")
        self.stdout.write(response.text)
        if response.status_code >= 400:
            raise CommandError(f"the webhook was refused with HTTP {response.status_code}")
