"""Admin actions of the whole console: every list can be exported as CSV."""

from django.contrib import admin

from tds_site.admin_helpers import export_csv

admin.site.add_action(export_csv, "export_csv")
