"""The database cache's table (CACHES in tds_site.settings), so that ``migrate`` alone makes
every table the processes need. Created whether or not REDIS_URL is set today: unsetting it
later must not leave the cache without its table. An existing table is kept as it is."""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "tds_cache"


def create_cache_table(apps, schema_editor) -> None:
    # createcachetable's own DDL, which returns early when the table already exists.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor) -> None:
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
