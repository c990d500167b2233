"""Lanes of the shared flow limiter: who gets the next free slot when calls wait.

Every call runs in one lane. A call of a higher lane always gets the next free slot before a
waiting call of a lower one, and the lower lanes never take the last `reserve` slots of the
window (`PlatformConfig.flow_reserve_interactive`), so a bulk file that started first cannot
take the slots a technician's swap needs. The lane is given per call (`lane=`) or for a block
of code with `lane_scope(...)`; logins and token refreshes take the lane of the call that
needs them. A call without a lane runs as INTERACTIVE (the behaviour before lanes existed).
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum


class Lane(StrEnum):
    """Highest first."""

    INTERACTIVE = "interactive"  # swaps requested by a person: form, CLI, re-issue, pre-check
    RECONCILE = "reconcile"  # checks of sends whose outcome is unknown
    BULK = "bulk"  # rows of a bulk file
    BACKGROUND = "background"  # device sync, subscriptions

    @property
    def rank(self) -> int:
        """0 for the highest lane."""
        return LANES.index(self)


LANES: tuple[Lane, ...] = (Lane.INTERACTIVE, Lane.RECONCILE, Lane.BULK, Lane.BACKGROUND)

_current: contextvars.ContextVar[Lane] = contextvars.ContextVar(
    "oceanconnect_lane", default=Lane.INTERACTIVE
)


def current_lane() -> Lane:
    return _current.get()


@contextmanager
def lane_scope(lane: Lane | str) -> Iterator[Lane]:
    """Every call made inside the block (logins included) runs in `lane`."""
    token = _current.set(Lane(lane))
    try:
        yield Lane(lane)
    finally:
        _current.reset(token)


def lane_cap(*, lane: str, limit: int, reserve: int) -> int:
    """How many slots of the window `lane` may fill: all of them for INTERACTIVE, the limit
    minus the reserve for the others (at least one, so no lane is shut out entirely)."""
    if lane == Lane.INTERACTIVE.value:
        return limit
    return max(1, limit - max(0, reserve))
