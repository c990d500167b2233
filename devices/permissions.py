"""Every permission the project checks, by its full name ("app_label.codename"), in one place.

Roles, views, forms, services and selectors check `user.has_perm(Perm.X)`; the model Meta that
declares a permission uses `Perm.X.codename`. Templates read them as `perms.devices.<codename>`.
"""

from enum import StrEnum


class Perm(StrEnum):
    SEARCH_DEVICES = "devices.search_devices"
    REQUEST_SWAP = "devices.request_swap"
    VIEW_OWN_CODES = "devices.view_own_codes"
    MANAGE_ANY_SWAP = "devices.manage_any_swap"
    ISSUE_NEVER_EXPIRING_CODE = "devices.issue_never_expiring_code"
    VIEW_HISTORY = "devices.view_history"
    APPROVE_SWAP = "devices.approve_swap"
    BULK_SWAP = "devices.bulk_swap"
    VIEW_SWAP = "devices.view_swap"  # Django's default view permission of Swap

    @property
    def app_label(self) -> str:
        return self.value.split(".", 1)[0]

    @property
    def codename(self) -> str:
        """The bare codename, as a model's Meta.permissions declares it."""
        return self.value.split(".", 1)[1]
