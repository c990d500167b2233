from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices and swaps"

    def ready(self) -> None:
        from devices import approvals  # noqa: F401  (registers the SWAP_APPROVAL_* system check)
        from devices import checks as platform_checks  # noqa: F401  (--deploy only)
        from devices.permission_cache import connect_signals
        from iotadmin import (
            checks,  # noqa: F401  (registers the deployment checks)
            sessions,  # noqa: F401  (notes the sign-in time for the idle limit)
        )

        connect_signals()
