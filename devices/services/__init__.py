"""Every write of the devices app; one module per area, re-exported here."""

from devices.services.swaps import (
    SwapRefused,
    SwapRetryLater,
    SweepResult,
    swap_cancel,
    swap_mark_bound,
    swap_mark_expired,
    swap_reissue,
    swap_release_interrupted,
    swap_request,
    swap_reveal_code,
    swap_send,
    swaps_sweep,
)

__all__ = [
    "SwapRefused",
    "SwapRetryLater",
    "SweepResult",
    "swap_cancel",
    "swap_mark_bound",
    "swap_mark_expired",
    "swap_reissue",
    "swap_release_interrupted",
    "swap_request",
    "swap_reveal_code",
    "swap_send",
    "swaps_sweep",
]
