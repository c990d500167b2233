"""`manage.py subscribe_notifications`: ask the platform to push device events to us.

Idempotent: a type already pushed to IOT_CALLBACK_URL is left alone, one pushed elsewhere is
replaced. `--check` only reads: it lists the subscriptions, reports drift (types not
subscribed, types pushed to another URL) and exits non-zero on drift.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from devices.management.commands.sync_devices import platform_error_text
from devices.services.subscriptions import (
    CallbackUrlRefused,
    SubscribeFailed,
    callback_url_masked,
    notifications_drift,
    notifications_subscribe,
)
from oceanconnect import PlatformError


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


def check_and_print(*, url: str, stdout: OutputWrapper) -> None:
    """List the subscriptions and the drift from `url`; CommandError (exit 1) on drift."""
    try:
        drift = notifications_drift(callback_url=url)
    except PlatformError as exc:
        raise CommandError(
            f"The subscriptions could not be read: {platform_error_text(exc)}"
        ) from None
    for subscription in drift.subscriptions:
        stdout.write(
            f"{subscription.notify_type} -> {callback_url_masked(subscription.callback_url)} "
            f"(subscription {subscription.subscription_id})"
        )
    if not drift.subscriptions:
        stdout.write("No subscriptions.")
    problems = [f"{t} is not subscribed" for t in drift.missing]
    problems += [f"{t} is pushed to another URL: {other}" for t, other in drift.elsewhere]
    if problems:
        raise CommandError(
            "Subscriptions drifted from IOT_CALLBACK_URL "
            f"({callback_url_masked(url)}): {'; '.join(problems)}. "
            "Run `manage.py subscribe_notifications` to fix."
        )
    stdout.write(f"In sync: every notify type is pushed to {callback_url_masked(url)}.")


class Command(BaseCommand):
    help = (
        "Subscribe IOT_CALLBACK_URL to bindDevice, deviceInfoChanged, deviceAdded, deviceDeleted "
        "(safe to run again; replaces subscriptions to another URL). --check only reports drift."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--callback-url", default=None, help="Override IOT_CALLBACK_URL for this run."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="List the subscriptions and report drift; change nothing; exit 1 on drift.",
        )

    def handle(self, *args, **options) -> None:
        url = options["callback_url"] or settings.IOT_CALLBACK_URL
        if options["check"]:
            check_and_print(url=url, stdout=self.stdout)
            return
        subscribe_and_print(url=url, stdout=self.stdout)
