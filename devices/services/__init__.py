"""Every write of the devices app; one module per area, re-exported here."""

from devices.services.approvals import swap_approve, swap_reject
from devices.services.checks import SwapRefused, swap_precheck
from devices.services.lifecycle import (
    SweepResult,
    swap_cancel,
    swap_help_request,
    swap_mark_bound,
    swap_mark_expired,
    swap_recover_lapsed,
    swap_reissue,
    swap_release_interrupted,
    swap_reveal_code,
    swap_take_over,
    swaps_recover,
    swaps_sweep,
)
from devices.services.push import (
    InvalidPush,
    PushNotification,
    PushOutcome,
    push_apply,
    push_parse,
)
from devices.services.request import swap_request
from devices.services.send import SwapRetryLater, swap_send
from devices.services.subscriptions import notifications_drift, notifications_subscribe
from devices.services.sync import SyncResult, devices_sync

__all__ = [
    "InvalidPush",
    "PushNotification",
    "PushOutcome",
    "SwapRefused",
    "SwapRetryLater",
    "SweepResult",
    "SyncResult",
    "devices_sync",
    "notifications_drift",
    "notifications_subscribe",
    "push_apply",
    "push_parse",
    "swap_approve",
    "swap_cancel",
    "swap_help_request",
    "swap_mark_bound",
    "swap_mark_expired",
    "swap_precheck",
    "swap_recover_lapsed",
    "swap_reissue",
    "swap_reject",
    "swap_release_interrupted",
    "swap_request",
    "swap_reveal_code",
    "swap_send",
    "swap_take_over",
    "swaps_recover",
    "swaps_sweep",
]
