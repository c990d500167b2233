"""The Celery app, configured from Django settings under the CELERY_ namespace."""

import os
from pathlib import Path

from celery import Celery, beat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotadmin.settings")

app = Celery("iotadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class PersistentScheduler(beat.PersistentScheduler):
    """celery beat's default scheduler, making its schedule file's folder when beat starts."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
