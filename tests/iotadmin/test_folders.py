"""Importing the settings creates no folder; each command or transport makes the one it needs."""

import os
import subprocess
import sys

from kombu import Connection

from iotadmin.celery import PersistentScheduler, app
from iotadmin.kombu_filesystem import Transport
from tests.support.worker import REPO_ROOT


def fresh_environment(var_dir) -> dict[str, str]:
    """The defaults (SQLite, filesystem broker) with a var dir of our own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
        and not key.startswith("PYTEST_")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "iotadmin.settings",
            "IOTADMIN_VAR_DIR": str(var_dir),
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return env


def run(var_dir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=fresh_environment(var_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_importing_settings_and_setting_django_up_create_no_folder(tmp_path):
    var_dir = tmp_path / "missing" / "var"
    script = (
        "import django; django.setup(); "
        "from django.conf import settings; "
        "from iotadmin.celery import app; "
        "print(settings.VAR_DIR, settings.STATIC_ROOT, app.conf.broker_url)"
    )

    done = run(var_dir, "-c", script)

    assert done.returncode == 0, done.stderr
    assert str(var_dir) in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_the_var_dir_and_the_database(tmp_path):
    var_dir = tmp_path / "missing" / "var"

    done = run(var_dir, "manage.py", "migrate", "--noinput", "--verbosity", "0")

    assert done.returncode == 0, done.stderr
    assert (var_dir / "iotadmin.sqlite3").is_file()


def test_the_filesystem_broker_makes_its_folders_when_it_connects(tmp_path):
    broker = tmp_path / "missing" / "celery-broker"
    options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "control_folder": str(broker / "control"),
    }
    assert not broker.exists()

    with Connection(transport=Transport, transport_options=options) as conn:
        channel = conn.default_channel
        channel._put("celery", {"body": "x"})
        assert channel._get("celery") == {"body": "x"}

    assert (broker / "queue").is_dir()
    assert (broker / "control").is_dir()


def test_beat_makes_its_schedule_files_folder_when_it_starts(tmp_path):
    schedule = tmp_path / "missing" / "celerybeat-schedule"

    scheduler = PersistentScheduler(app=app, schedule_filename=str(schedule), lazy=False)
    try:
        assert schedule.parent.is_dir()
    finally:
        scheduler.close()
