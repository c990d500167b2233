"""The filesystem broker writes each message atomically, so a worker never reads half a file."""

import json
import os

from kombu import Connection

from iotadmin.kombu_filesystem import Transport


def test_the_embedded_broker_uses_the_atomic_transport(settings):
    transport = getattr(settings, "CELERY_BROKER_TRANSPORT", None)
    if settings.CELERY_BROKER_URL == "filesystem://":
        assert transport == "iotadmin.kombu_filesystem:Transport"
    else:
        assert transport is None  # Redis/RabbitMQ: the URL's own transport


def test_a_put_leaves_one_complete_message_and_no_partial_file(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection(transport=Transport, transport_options=options) as conn:
        channel = conn.default_channel
        channel._put("celery", {"body": "x" * 100_000})
        names = os.listdir(tmp_path)
        assert len(names) == 1
        assert names[0].endswith(".celery.msg")
        with open(tmp_path / names[0], encoding="utf-8") as handle:
            assert json.load(handle) == {"body": "x" * 100_000}
        assert channel._get("celery") == {"body": "x" * 100_000}
