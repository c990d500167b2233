"""The device search's contains and last-digits branches, and deviceInfo.location mirrored.

- location: the platform's deviceInfo.location (a street address), written by sync and push.
- node_key_reversed = REVERSE(node_key), a generated column: the last digits of an IMEI or
  serial, reversed, are a prefix of it, so the suffix branch is an index range like the nodeId
  prefix branch. Django creates device_node_key_rev_idx (node_key_reversed, id) everywhere (SQLite
  computes REVERSE with the function Django registers on each of its connections); on PostgreSQL
  it is rebuilt under the same name on ((node_key_reversed COLLATE "C"), id), as 0005 does.
- On PostgreSQL only: the pg_trgm extension (TrigramExtension does nothing on SQLite) and two
  trigram GIN indexes, on UPPER(name) and UPPER(location), serving `icontains` (Django compares
  UPPER(column::text) LIKE UPPER('%q%')). SQLite scans for a substring: fine at small sizes.
"""

import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

POSTGRES_CREATE = (
    "DROP INDEX IF EXISTS device_node_key_rev_idx",
    'CREATE INDEX device_node_key_rev_idx ON devices_device ((node_key_reversed COLLATE "C"), id)',
    "CREATE INDEX IF NOT EXISTS device_name_trgm_idx "
    "ON devices_device USING gin ((UPPER(name::text)) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS device_location_trgm_idx "
    "ON devices_device USING gin ((UPPER(location::text)) gin_trgm_ops)",
)
POSTGRES_DROP = (
    "DROP INDEX IF EXISTS device_location_trgm_idx",
    "DROP INDEX IF EXISTS device_name_trgm_idx",
    "DROP INDEX IF EXISTS device_node_key_rev_idx",
    "CREATE INDEX device_node_key_rev_idx ON devices_device (node_key_reversed, id)",
)


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0010_sync_walk"),
    ]

    operations = [
        migrations.AddField(
            model_name="device",
            name="location",
            field=models.CharField(blank=True, default="", max_length=256),
        ),
        migrations.AddField(
            model_name="device",
            name="node_key_reversed",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Reverse("node_key"),
                output_field=models.CharField(max_length=256),
            ),
        ),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(fields=["node_key_reversed", "id"], name="device_node_key_rev_idx"),
        ),
        TrigramExtension(),
        migrations.RunPython(_run(POSTGRES_CREATE), _run(POSTGRES_DROP)),
    ]
