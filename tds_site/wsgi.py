"""WSGI entry point: ``gunicorn tds_site.wsgi`` (configuration in deploy/gunicorn.conf.py)."""

import os

import django
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tds_site.settings")
django.setup(set_prefix=False)

from tds_site.handlers import WebhookHandler, route_webhooks  # noqa: E402

application = route_webhooks(WebhookHandler(), WSGIHandler())
