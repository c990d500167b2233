"""The platform's subscriptions as a deployment check (`manage.py check --deploy` only).

Registered with `deploy=True`, so plain `manage.py` commands (migrate, runserver, ...) never
call the platform: only `check --deploy` reads the subscriptions, with short timeouts, and
warns when the platform pushes to a URL other than IOT_CALLBACK_URL, when a notify type is not
subscribed, or when the platform cannot be reached. Never an error: the deployment may be
checked before the platform is reachable from it.
"""

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

from devices.platform_wiring import build_client
from devices.services.subscriptions import callback_url_masked, notifications_drift
from oceanconnect import PlatformError

CHECK_CONNECT_TIMEOUT = 3.0
CHECK_READ_TIMEOUT = 5.0
CHECK_MAX_WAIT = 2.0


class _ShortTimeouts:
    """Django's settings with the platform timeouts shortened for the check."""

    IOT_CONNECT_TIMEOUT = CHECK_CONNECT_TIMEOUT
    IOT_READ_TIMEOUT = CHECK_READ_TIMEOUT

    def __getattr__(self, name: str) -> Any:
        return getattr(settings, name)


@register("iotadmin_platform", deploy=True)
def platform_subscriptions_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    url = settings.IOT_CALLBACK_URL
    shown = callback_url_masked(url)
    client = build_client(_ShortTimeouts())
    try:
        drift = notifications_drift(callback_url=url, max_wait=CHECK_MAX_WAIT, client=client)
    except PlatformError as exc:
        return [
            Warning(
                "The platform could not be reached to check its push subscriptions "
                f"(platform error {exc.code or type(exc).__name__}).",
                hint="Check IOT_PLATFORM_URL and the TLS settings (`manage.py platform_check`), "
                "then `manage.py subscribe_notifications --check`.",
                id="iotadmin.W010",
            )
        ]
    finally:
        client.close()
    warnings = [
        Warning(
            f"The platform pushes {notify_type} to {other}, not to IOT_CALLBACK_URL ({shown}).",
            hint="Run `manage.py subscribe_notifications` to replace it.",
            id="iotadmin.W011",
        )
        for notify_type, other in drift.elsewhere
    ]
    if drift.missing:
        warnings.append(
            Warning(
                f"The platform does not push {', '.join(drift.missing)} to us.",
                hint="Run `manage.py subscribe_notifications`.",
                id="iotadmin.W012",
            )
        )
    return warnings
