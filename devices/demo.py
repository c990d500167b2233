"""Demo mode: a trainer "plugs in" the replacement unit through the simulator's bind endpoint.

Only ever talks to the simulator's control API (never a real platform), and only when
settings.IOT_DEMO_MODE is on.
"""

import logging

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from devices.models import Swap, SwapState
from devices.roles import can_see_code
from devices.services.checks import SwapRefused
from devices.services.lifecycle import swap_reveal_code

logger = logging.getLogger(__name__)


class DemoRefused(Exception):
    """The demo action cannot be done; the message is for the trainer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def demo_plug_in_unit(*, swap: Swap, actor: AbstractBaseUser | AnonymousUser) -> None:
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
    url = settings.IOT_PLATFORM_URL.rstrip("/") + "/simulator/bind"
    cert = None
    if settings.IOT_CLIENT_CERT:
        cert = (settings.IOT_CLIENT_CERT, settings.IOT_CLIENT_KEY or None)
    try:
        response = requests.post(
            url,
            json={"nodeId": swap.new_node_id, "verifyCode": verify_code},
            timeout=(settings.IOT_CONNECT_TIMEOUT, settings.IOT_READ_TIMEOUT),
            verify=settings.IOT_CA_FILE or True,
            cert=cert,
        )
    except requests.RequestException as exc:
        logger.warning(
            "demo bind of swap %s: simulator unreachable (%s)", swap.pk, type(exc).__name__
        )
        raise DemoRefused(
            "The simulator did not answer; is it running (python -m simulator)?"
        ) from None
    if response.status_code == 200:
        logger.info("demo bind of swap %s: the simulator connected the unit", swap.pk)
        return
    reason = _simulator_reason(response)
    if verify_code and verify_code.lower() in reason.lower():
        reason = "it did not accept the unit"  # never echo a verifyCode back into the page
    logger.warning(
        "demo bind of swap %s refused by the simulator (HTTP %s)", swap.pk, response.status_code
    )
    raise DemoRefused(f"The simulator refused to connect the unit: {reason}.")


def _simulator_reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("error", "reason", "message", "detail", "error_desc"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:200]
    return f"HTTP {response.status_code}"
