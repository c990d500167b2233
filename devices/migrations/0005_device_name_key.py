"""The device search's keys: name_key = UPPER(name), computed by the database, and the indexes
that read each way of matching in its own order (see devices.selectors.device_search).

The search orders and ranges in code-point order: SQLite's default BINARY collation is that
order; on PostgreSQL the queries say COLLATE "C", so the indexes must too. Django creates
device_name_key_idx (name_key, id) everywhere (SQLite keeps it through table rebuilds); on
PostgreSQL it is rebuilt under the same name on ((name_key COLLATE "C"), id), so the model's
state still names it, and device_node_key_c_idx ((node_key COLLATE "C"), id) is added for the
nodeId prefix branch (SQLite's device_node_key_idx on node_key already ends in the rowid).
Existing rows get name_key when the column is added: it is a generated column.
"""

import django.db.models.functions.text
from django.db import migrations, models

POSTGRES_CREATE = (
    "DROP INDEX IF EXISTS device_name_key_idx",
    'CREATE INDEX device_name_key_idx ON devices_device ((name_key COLLATE "C"), id)',
    "CREATE INDEX IF NOT EXISTS device_node_key_c_idx "
    'ON devices_device ((node_key COLLATE "C"), id)',
)
POSTGRES_DROP = (
    "DROP INDEX IF EXISTS device_node_key_c_idx",
    "DROP INDEX IF EXISTS device_name_key_idx",
    "CREATE INDEX device_name_key_idx ON devices_device (name_key, id)",
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
        ("devices", "0004_roles_and_prefix_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="device",
            name="name_key",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Upper("name"),
                output_field=models.CharField(max_length=256),
            ),
        ),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(fields=["name_key", "id"], name="device_name_key_idx"),
        ),
        migrations.RunPython(_run(POSTGRES_CREATE), _run(POSTGRES_DROP)),
    ]
