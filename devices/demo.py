"""Demo mode: a trainer "plugs in" the replacement unit through the simulator's bind endpoint.

Only ever talks to the simulator's control API (never a real platform), through the platform
client (its TLS settings and session), and only when settings.IOT_DEMO_MODE is on.
"""

import logging

from django.conf import settings
from django.contrib.auth.models import User

from devices.models import Swap, SwapState
from devices.platform_wiring import get_client
from devices.roles import can_see_code
from devices.services.checks import SwapRefused
from devices.services.lifecycle import swap_reveal_code
from oceanconnect import PlatformError

logger = logging.getLogger(__name__)


class DemoRefused(Exception):
    """The demo action cannot be done; the message is for the trainer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def demo_plug_in_unit(*, swap: Swap, actor: User) -> None:
    """Make the simulator connect the swap's new unit with the issued verifyCode."""
    if not settings.IOT_DEMO_MODE:
        raise DemoRefused("Demo mode is off: plug in the real replacement unit instead.")
    if swap.state != SwapState.CODE_ISSUED:
        raise DemoRefused("There is no valid verifyCode to plug the unit in with.")
    if not can_see_code(actor, swap):
        raise DemoRefused("Only someone who may see this swap's verifyCode can plug the unit in.")
    try:
        verify_code = swap_reveal_code(swap=swap, actor=actor)
    except SwapRefused as exc:
        raise DemoRefused(exc.message) from None
    try:
        binding = get_client().simulator_bind(node_id=swap.new_node_id, verify_code=verify_code)
    except PlatformError as exc:
        logger.warning(
            "demo bind of swap %s: simulator unreachable (%s)", swap.pk, type(exc).__name__
        )
        raise DemoRefused(
            "The simulator did not answer; is it running (python -m simulator)?"
        ) from None
    if binding.bound:
        logger.info("demo bind of swap %s: the simulator connected the unit", swap.pk)
        return
    logger.warning(
        "demo bind of swap %s refused by the simulator (HTTP %s)", swap.pk, binding.http_status
    )
    raise DemoRefused(f"The simulator refused to connect the unit: {binding.reason}.")
