"""`manage.py demo_bootstrap`: what `make run` does before the web server starts.

Waits for the platform (the simulator) to answer a login, syncs the devices, subscribes the
push notifications, and creates one demo user per role with a printed password.
"""

import os
import socket
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.management.commands.subscribe_notifications import subscribe_and_print
from devices.management.commands.sync_devices import platform_error_text
from devices.platform_wiring import get_client
from devices.roles import FIELD_SERVICE, HELPDESK, SUPERVISOR
from devices.services.sync import devices_sync
from oceanconnect import PlatformError, PlatformRetryableError

DEFAULT_DEMO_PASSWORD = "swap-demo-2026"
# (username, group created by the roles data migration)
DEMO_USERS = (
    ("field", FIELD_SERVICE),
    ("helpdesk", HELPDESK),
    ("supervisor", SUPERVISOR),
)
SITE_URL = "http://127.0.0.1:8000/"


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Demo setup for `make run`: wait for the simulator, sync, subscribe, create demo users."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--wait", type=float, default=30.0, help="Seconds to wait for the platform (30)."
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (creates demo logins!)."
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: demo_bootstrap creates users with a published password. "
                "Use --force if this really is a demo installation."
            )
        self._wait_for_platform(options["wait"])
        try:
            result = devices_sync(actor=None)
        except PlatformError as exc:
            raise CommandError(f"Device sync failed: {platform_error_text(exc)}") from None
        self.stdout.write(result.summary())
        subscribe_and_print(url=settings.IOT_CALLBACK_URL, stdout=self.stdout)
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
        self._create_demo_users(password)
        self._print_logins(password)

    def _wait_for_platform(self, seconds: float) -> None:
        url = settings.IOT_PLATFORM_URL
        deadline = time.monotonic() + seconds
        self.stdout.write(f"Waiting up to {seconds:.0f} s for the platform at {url} ...")
        # Knock on the port first: a login attempt would spend a flow-control slot each time.
        while not _port_open(url):
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"Nothing answers at IOT_PLATFORM_URL={url} after {seconds:.0f} s. "
                    "Is the simulator running (python -m simulator)?"
                )
            time.sleep(0.5)
        client = get_client()
        while True:
            try:
                # A valid token: the shared cached one, or a login (the client has no other).
                client.tokens.access_token(deadline=None)
                break
            except PlatformRetryableError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"The platform at {url} does not let us log in: {platform_error_text(exc)}"
                    ) from None
                time.sleep(1)
            except PlatformError as exc:
                raise CommandError(
                    f"Login to the platform at {url} failed: {platform_error_text(exc)}"
                ) from None
        self.stdout.write("The platform answers and the login works.")

    @transaction.atomic
    def _create_demo_users(self, password: str) -> None:
        user_model = get_user_model()
        for username, group_name in DEMO_USERS:
            group, _ = Group.objects.get_or_create(name=group_name)
            user, created = user_model.objects.get_or_create(username=username)
            # Reset every time, so the password printed below is the one that works.
            user.set_password(password)
            user.is_active = True
            user.save()
            user.groups.add(group)
            verb = "Created" if created else "Updated"
            self.stdout.write(f"{verb} demo user {username!r} in group {group_name!r}.")

    def _print_logins(self, password: str) -> None:
        lines = [
            f"iotadmin is starting at {SITE_URL}",
            "",
            "Demo logins (username / password, role):",
            *(f"  {username:<11} / {password}   {group}" for username, group in DEMO_USERS),
        ]
        width = max(len(line) for line in lines)
        border = "+" + "-" * (width + 2) + "+"
        self.stdout.write(border)
        for line in lines:
            self.stdout.write(f"| {line.ljust(width)} |")
        self.stdout.write(border)
