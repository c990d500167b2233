"""`manage.py subscribe_notifications`: ask the platform to push device events to us."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from devices.management.commands.sync_devices import platform_error_text
from devices.services.subscriptions import (
    CallbackUrlRefused,
    SubscribeFailed,
    callback_url_masked,
    notifications_subscribe,
)


def subscribe_and_print(*, url: str, stdout: OutputWrapper) -> None:
    """Call the service and print one line per subscription; errors become CommandError."""
    try:
        subscriptions = notifications_subscribe(callback_url=url)
    except CallbackUrlRefused as exc:
        raise CommandError(f"IOT_CALLBACK_URL cannot be subscribed: {exc.problem}.") from None
    except SubscribeFailed as exc:
        subscriptions = exc.subscribed
        error = f"Subscribing {exc.notify_type} failed: {platform_error_text(exc.error)}"
    else:
        error = ""
    for subscription in subscriptions:
        stdout.write(
            f"Subscribed {subscription.notify_type} -> {callback_url_masked(url)} "
            f"(subscription {subscription.subscription_id})"
        )
    if error:
        raise CommandError(error)


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
        subscribe_and_print(url=url, stdout=self.stdout)
