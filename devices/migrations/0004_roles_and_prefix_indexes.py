"""Role groups with their permissions; on PostgreSQL, indexes that serve prefix searches.

A plain B-tree index serves `LIKE 'abc%'` on PostgreSQL only under the C collation; the
pattern_ops indexes below make the search box's nodeId and name prefixes index scans at any
collation. SQLite needs nothing here (its own indexes from 0002 are used as they can be).
"""

from django.db import migrations

PREFIX_INDEXES = (
    (
        "device_node_key_prefix_idx",
        "CREATE INDEX IF NOT EXISTS device_node_key_prefix_idx "
        "ON devices_device (node_key varchar_pattern_ops)",
    ),
    (
        "device_name_upper_prefix_idx",
        "CREATE INDEX IF NOT EXISTS device_name_upper_prefix_idx "
        "ON devices_device ((UPPER(name::text)) text_pattern_ops, id)",
    ),
)


def create_roles(apps, schema_editor):
    from devices.roles import sync_role_groups

    sync_role_groups(apps)


def create_prefix_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _name, sql in PREFIX_INDEXES:
        schema_editor.execute(sql)


def drop_prefix_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _sql in PREFIX_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0003_swap_reconcile_code_views"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_prefix_indexes, drop_prefix_indexes),
    ]
