# The runs' table was created by inbox.0002 when reconciliation lived in the inbox app; this
# app takes the model over without touching the table.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("inbox", "0003_webhook_rate_windows"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReconciliationRun",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("entity", models.CharField(max_length=32)),
                        ("since", models.DateTimeField(help_text="Records changed in Zoho after this were read.")),
                        ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("succeeded", models.BooleanField(default=False)),
                        ("seen", models.PositiveIntegerField(default=0)),
                        ("missing", models.PositiveIntegerField(default=0)),
                        ("stale", models.PositiveIntegerField(default=0)),
                        ("queued", models.PositiveIntegerField(default=0)),
                        ("error", models.TextField(blank=True, default="")),
                    ],
                    options={
                        "verbose_name": "reconciliation run",
                        "db_table": "tds_reconciliation_runs",
                        "indexes": [models.Index(fields=["entity", "succeeded", "started_at"], name="tds_recon_last_ok")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
