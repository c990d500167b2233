"""`manage.py sync_devices`: mirror every page of the platform's device lists now."""

from django.core.management.base import BaseCommand, CommandError

from devices.services.sync import SyncAlreadyRunning, devices_sync
from oceanconnect import PlatformError


def platform_error_text(exc: PlatformError) -> str:
    """The platform's code and our handling text, never a traceback."""
    code = exc.code or (f"HTTP {exc.http_status}" if exc.http_status else "no answer")
    handling = exc.handling_text or exc.platform_text or "see the logs"
    return f"platform error {code}: {handling}"


class Command(BaseCommand):
    help = (
        "Pull every page of the platform's device list (and the authorizing apps') into the mirror."
    )

    def handle(self, *args, **options) -> None:
        try:
            result = devices_sync(actor=None)
        except PlatformError as exc:
            raise CommandError(
                f"Sync failed, nothing marked deleted: {platform_error_text(exc)}"
            ) from None
        except SyncAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result.summary())
