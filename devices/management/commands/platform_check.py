"""`manage.py platform_check`: can this server talk to the platform, as configured?

A TLS handshake (HTTPS endpoints), a login and one read (the device list, page size 1). Prints
the server certificate's subject and expiry, the client certificate's subject and expiry, the
access token's lifetime and the flow limit in use; never a secret. On failure: exit 1 with the
one-line message naming the setting to change.
"""

import ssl
from datetime import UTC, datetime

from cryptography import x509
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.management.commands.sync_devices import platform_error_text
from devices.platform_wiring import build_client
from oceanconnect import PlatformError
from oceanconnect.transport import TlsConfigurationError, client_certificate, peer_certificate


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _expiry(moment: datetime) -> str:
    days = (moment - datetime.now(UTC)).days
    return f"{moment:%Y-%m-%d %H:%M} UTC ({days} days left)"


class Command(BaseCommand):
    help = (
        "Check the platform connection: TLS handshake, login and one read; prints certificate "
        "subjects and expiries, token lifetime and flow limit (never a secret)."
    )

    def handle(self, *args, **options) -> None:
        client = build_client(settings)
        config = client.config
        try:
            self.stdout.write(f"Platform: {config.base_url} (application {config.app_id})")
            if config.is_https:
                try:
                    server = peer_certificate(config)
                except TlsConfigurationError as exc:
                    raise CommandError(f"TLS: {exc}") from None
                except (OSError, ssl.SSLError):
                    server = None  # the call below gives the one-line reason
                if server is not None:
                    self.stdout.write(f"Server certificate: {_subject(server)}")
                    self.stdout.write(f"  expires {_expiry(server.not_valid_after_utc)}")
                mine = client_certificate(config)
                if mine is None:
                    self.stdout.write("Client certificate: none configured")
                else:
                    self.stdout.write(f"Client certificate: {_subject(mine)}")
                    self.stdout.write(f"  expires {_expiry(mine.not_valid_after_utc)}")
            else:
                self.stdout.write("TLS: none (plain HTTP)")
            try:
                page = next(client.iter_device_pages(page_size=1, max_wait=10.0))
            except PlatformError as exc:
                raise CommandError(f"{exc} - {platform_error_text(exc)}") from None
            token = client.tokens.cached()
            if token is not None:
                self.stdout.write(f"Login: ok, access token lifetime {token.lifetime:.0f} s")
            self.stdout.write(f"Read: ok, {page.total_count} device(s) on the platform")
            self.stdout.write(
                f"Flow limit in use: {config.flow_limit_per_minute} calls per "
                f"{config.flow_window:g} s (IOT_FLOW_LIMIT_PER_MINUTE)"
            )
        finally:
            client.close()
