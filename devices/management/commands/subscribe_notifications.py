"""`manage.py subscribe_notifications`: ask the platform to push device events to us."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.management.commands.sync_devices import platform_error_text
from devices.platform_wiring import get_client
from oceanconnect import PlatformError

NOTIFY_TYPES = ("bindDevice", "deviceInfoChanged", "deviceAdded", "deviceDeleted")


def callback_url_problem(url: str) -> str | None:
    """Why the platform would refuse this callback URL, or None when it is usable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it must be an http:// or https:// URL with a host"
    if port is None:
        return "it must carry an explicit port (e.g. https://iotadmin.example.com:443/...)"
    return None


def redacted(url: str) -> str:
    """The callback URL for printing: its last path segment (the push secret) hidden."""
    head, _, _tail = url.rstrip("/").rpartition("/")
    return f"{head}/…/" if head else "…"


class Command(BaseCommand):
    help = (
        "Subscribe IOT_CALLBACK_URL to bindDevice, deviceInfoChanged, deviceAdded, deviceDeleted."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--callback-url", default=None, help="Override IOT_CALLBACK_URL for this run."
        )

    def handle(self, *args, **options) -> None:
        url = options["callback_url"] or settings.IOT_CALLBACK_URL
        problem = callback_url_problem(url)
        if problem:
            raise CommandError(f"IOT_CALLBACK_URL cannot be subscribed: {problem}.")
        client = get_client()
        for notify_type in NOTIFY_TYPES:
            try:
                subscription = client.subscribe(notify_type, url)
            except PlatformError as exc:
                raise CommandError(
                    f"Subscribing {notify_type} failed: {platform_error_text(exc)}"
                ) from None
            self.stdout.write(
                f"Subscribed {notify_type} -> {redacted(url)} "
                f"(subscription {subscription.subscription_id})"
            )
