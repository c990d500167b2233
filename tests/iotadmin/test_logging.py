"""LOG_FORMAT=json: one JSON object a line, with the request id and without the push secret;
Sentry's before_send drops bodies and secrets."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iotadmin.sentry import before_send

REPO_ROOT = Path(__file__).resolve().parents[2]
PUSH_SECRET = "json-log-push-secret-1234"


def test_json_log_lines_carry_the_request_id_and_never_the_push_secret(tmp_path):
    script = textwrap.dedent(
        """
        import logging, django
        django.setup()
        from django.conf import settings
        from iotadmin.middleware import current_request_id
        current_request_id.set("req-42")
        logging.getLogger("devices.push").warning(
            "POST /platform/push/%s/ refused", settings.IOT_PUSH_SECRET
        )
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
        "PYTHONPATH": str(REPO_ROOT),
        "IOTADMIN_VAR_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
        "IOT_PUSH_SECRET": PUSH_SECRET,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=True
    )
    output = result.stderr.decode()
    assert PUSH_SECRET not in output
    line = json.loads(output.strip().splitlines()[-1])
    assert line["request_id"] == "req-42"
    assert line["level"] == "WARNING"
    assert line["logger"] == "devices.push"
    assert line["message"] == "POST /platform/push/<redacted>/ refused"


def test_an_unknown_log_format_is_refused(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "IOTADMIN_VAR_DIR": str(tmp_path),
        "LOG_FORMAT": "xml",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import iotadmin.settings"], env=env, capture_output=True, timeout=60
    )
    assert result.returncode != 0
    assert b"LOG_FORMAT must be plain or json" in result.stderr


def test_sentry_events_lose_bodies_cookies_and_secret_fields():
    event = {
        "request": {
            "url": f"https://iotadmin.example.com/platform/push/{PUSH_SECRET}/",
            "data": {"verifyCode": "ABC123"},
            "cookies": {"sessionid": "s"},
            "headers": {"Authorization": "Bearer t", "Accept": "text/html"},
        },
        "extra": {"verify_code": "ABC123", "swap_id": 7, "nested": [{"app_secret": "x"}]},
        "exception": {"values": [{"value": "failed for swap 7"}]},
    }

    scrubbed = before_send(event)

    assert "data" not in scrubbed["request"]
    assert "cookies" not in scrubbed["request"]
    assert PUSH_SECRET not in json.dumps(scrubbed)
    assert scrubbed["request"]["headers"] == {"Authorization": "[Filtered]", "Accept": "text/html"}
    assert scrubbed["extra"]["verify_code"] == "[Filtered]"
    assert scrubbed["extra"]["nested"] == [{"app_secret": "[Filtered]"}]
    assert scrubbed["extra"]["swap_id"] == 7


def test_sentry_init_without_the_sdk_says_so(monkeypatch, caplog):
    import builtins

    from iotadmin.sentry import sentry_init

    real_import = builtins.__import__

    def no_sentry(name, *args, **kwargs):
        if name.startswith("sentry_sdk"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sentry)
    assert sentry_init(dsn="https://key@sentry.example/1", environment="test") is False
    assert "sentry-sdk is not installed" in caplog.text


@pytest.mark.parametrize("field", ["verifyCode", "IOT_APP_SECRET", "password", "token"])
def test_secret_looking_fields_are_filtered(field):
    assert before_send({"extra": {field: "value"}})["extra"][field] == "[Filtered]"
