# ReconciliationRun now belongs to the reconciliation app (its 0001 takes the model over);
# the table stays as it is.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0003_webhook_rate_windows"),
        ("reconciliation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ReconciliationRun")],
            database_operations=[],
        ),
    ]
