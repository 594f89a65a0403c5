"""WSGI entry point: ``gunicorn tds_site.wsgi`` (configuration in deploy/gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tds_site.settings")

application = get_wsgi_application()
