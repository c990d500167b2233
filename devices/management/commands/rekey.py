"""`manage.py rekey DEVICE_ID --node-id NEW ...`: a swap from the command line.

Same services, checks and audit trail as the form; the verifyCode mode defaults from the
device's protocol (devices/code_modes.py), and another one on an NB-IoT device needs
--force-code-mode. --when-offline MINUTES lets an online device's swap wait for the old unit
to go offline (devices/services/offline.py) instead of being refused. With --wait it follows
the swap until the code is issued (prints it with its expiry) or the swap ends (prints the
error, exits non-zero).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from devices.code_modes import code_mode_warning, default_verify_code_mode
from devices.identifiers import IMEI_PREFIX, InvalidNodeId, NodeId
from devices.limits import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_OFFLINE_WAIT_MINUTES,
    MAX_VERIFY_CODE_LENGTH,
    MIN_TIMEOUT_SECONDS,
)
from devices.models import Chipset, Device, NodeIdKind, Swap, SwapState, VerifyCodeMode
from devices.permissions import Perm
from devices.roles import HELPDESK, sync_role_groups
from devices.selectors import swap_slot_wait, swap_worker_notice
from devices.services import SwapRefused, swap_request, swap_reveal_code
from iotadmin.celery import app as celery_app
from iotadmin.outages import is_outage, outage_reason

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CLI_USERNAME = "cli"
WAIT_STATES = (
    SwapState.PENDING_APPROVAL,
    SwapState.WAITING_OFFLINE,
    SwapState.QUEUED,
    SwapState.SENDING,
)


class Command(BaseCommand):
    help = "Rebind DEVICE_ID to a replacement unit's nodeId (refresh its device key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("device_id", help="the platform's deviceId")
        parser.add_argument("--node-id", required=True, help="the new unit's identifier")
        parser.add_argument("--kind", choices=NodeIdKind.values, default=NodeIdKind.IMEI)
        parser.add_argument(
            "--chipset",
            choices=Chipset.values,
            help="for an IMEI: qualcomm (urn:imei:<IMEI>) or hisilicon (bare IMEI)",
        )
        codes = parser.add_mutually_exclusive_group()
        codes.add_argument(
            "--verify-code",
            help=f"a custom verifyCode (at most {MAX_VERIFY_CODE_LENGTH} characters); "
            "'-' reads it from stdin",
        )
        codes.add_argument(
            "--verify-code-same-as-node-id",
            action="store_true",
            help="use the nodeId as the verifyCode (NB-IoT CoAP/LwM2M and Agent Lite units; "
            "the default for a device whose protocol needs it)",
        )
        codes.add_argument(
            "--platform-code",
            action="store_true",
            help="let the platform generate the verifyCode (the default for units that present "
            "a code: MQTT, HTTP)",
        )
        parser.add_argument(
            "--force-code-mode",
            action="store_true",
            help="use --platform-code or --verify-code even on a device that attaches with its "
            "nodeId (NB-IoT); the warning is printed",
        )
        parser.add_argument(
            "--timeout",
            type=int,
            default=DEFAULT_TIMEOUT_SECONDS,
            help=f"code validity in seconds; {MIN_TIMEOUT_SECONDS} = never expires",
        )
        parser.add_argument("--reason", default="", help="reason or ticket reference")
        parser.add_argument(
            "--user",
            default=CLI_USERNAME,
            help=f"who requests the swap (default: the system user '{CLI_USERNAME}')",
        )
        parser.add_argument("--confirm-same-node-id", action="store_true")
        parser.add_argument(
            "--when-offline",
            type=int,
            default=0,
            metavar="MINUTES",
            help="if the device is online, wait up to MINUTES for the old unit to go offline "
            f"and send it then (at most {MAX_OFFLINE_WAIT_MINUTES}); otherwise it is refused",
        )
        parser.add_argument("--wait", action="store_true", help="wait for the code or the error")
        parser.add_argument(
            "--wait-seconds", type=float, default=300.0, help="how long --wait waits"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._rekey(options)
        except Exception as exc:
            if not is_outage(exc):
                raise
            raise CommandError(
                f"Cannot rekey now: {outage_reason(exc)} ({type(exc).__name__}). "
                "A swap already recorded is kept and sent when it is back; otherwise run "
                "the same command again then."
            ) from None

    def _rekey(self, options: dict[str, Any]) -> None:
        _require_broker()
        device = Device.objects.filter(device_id=options["device_id"]).first()
        if device is None:
            raise CommandError(
                f"Unknown device {options['device_id']!r}: it is not in the mirror "
                "(run `manage.py sync_devices` if it was registered recently)."
            )
        node_id = self._node_id(options)
        mode, custom_code = self._verify_code(options, device)
        warning = code_mode_warning(device, mode)
        if warning and not options["force_code_mode"]:
            raise CommandError(
                f"{warning} Leave out --platform-code/--verify-code (the nodeId is used), or add "
                "--force-code-mode if this unit presents a code."
            )
        if warning:
            self.stderr.write(f"Warning: {warning}")
        actor = self._actor(options["user"])
        try:
            swap = swap_request(
                device=device,
                new_node_id=node_id,
                verify_code_mode=mode,
                custom_verify_code=custom_code,
                timeout_seconds=options["timeout"],
                reason=options["reason"],
                actor=actor,
                allow_same_node_id=options["confirm_same_node_id"],
                code_mode_override=options["force_code_mode"],
                offline_wait_minutes=options["when_offline"],
            )
        except SwapRefused as exc:
            raise CommandError(exc.message) from None
        except PermissionDenied as exc:
            raise CommandError(f"{actor.get_username()}: {exc}") from None
        what = "queued"
        if swap.state == SwapState.WAITING_OFFLINE and swap.offline_wait_until:
            what = (
                "waiting for the old unit to go offline (sent then; ends unsent at "
                f"{swap.offline_wait_until.isoformat()})"
            )
        self.stdout.write(
            f"Swap #{swap.pk} {what}: {device.device_id} {swap.old_node_id} -> {swap.new_node_id}"
        )
        if swap.precheck_notice:
            self.stdout.write(swap.precheck_notice)
        if options["wait"]:
            self._wait(swap, actor, options["wait_seconds"])

    def _node_id(self, options: dict[str, Any]) -> NodeId:
        raw, kind, chipset = options["node_id"], options["kind"], options["chipset"]
        if kind == NodeIdKind.IMEI and not chipset:
            if raw.strip().lower().startswith(IMEI_PREFIX):
                chipset = Chipset.QUALCOMM
            else:
                self._parse(raw, kind, Chipset.HISILICON)  # digit mistakes first
                raise CommandError(
                    "An IMEI needs --chipset qualcomm (sent as urn:imei:<IMEI>) or hisilicon "
                    "(sent as the bare IMEI)."
                )
        return self._parse(raw, kind, chipset or "")

    def _parse(self, raw: str, kind: str, chipset: str) -> NodeId:
        try:
            return NodeId.parse(raw, kind, chipset)
        except InvalidNodeId as exc:
            raise CommandError(f"--node-id: {exc.message}") from None

    def _verify_code(self, options: dict[str, Any], device: Device) -> tuple[str, str]:
        if options["verify_code_same_as_node_id"]:
            return VerifyCodeMode.SAME_AS_NODE_ID, ""
        if options["platform_code"]:
            return VerifyCodeMode.PLATFORM, ""
        code = options["verify_code"]
        if code is None:
            return default_verify_code_mode(device), ""
        if code == "-":
            code = sys.stdin.readline().rstrip("\r\n")
        return VerifyCodeMode.CUSTOM, code

    def _actor(self, username: str) -> User:
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is not None:
            if not user.is_active:
                raise CommandError(f"User {username!r} is inactive.")
            return user
        if username != CLI_USERNAME:
            raise CommandError(f"Unknown user {username!r}.")
        with transaction.atomic():
            user = user_model.objects.create_user(username=CLI_USERNAME)
            user.set_unusable_password()
            user.save()
            if not Group.objects.filter(name=HELPDESK).exists():
                sync_role_groups()
            user.groups.add(Group.objects.get(name=HELPDESK))
            # Shell access to the server already means full control; give it codes that last.
            user.user_permissions.add(
                Permission.objects.get(
                    content_type__app_label=Perm.ISSUE_NEVER_EXPIRING_CODE.app_label,
                    codename=Perm.ISSUE_NEVER_EXPIRING_CODE.codename,
                )
            )
        self.stdout.write(f"Created the system user {CLI_USERNAME!r} (Helpdesk) for CLI swaps.")
        return user_model.objects.get(pk=user.pk)

    def _wait(self, swap: Swap, actor: User, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        swap.refresh_from_db()
        shown: tuple[Any, ...] = ()
        told_no_worker = False
        while swap.state in WAIT_STATES:
            no_worker = swap_worker_notice(swap=swap)
            if no_worker and not told_no_worker:
                self.stderr.write(no_worker)
                told_no_worker = True
            waiting = swap_slot_wait(swap=swap)
            seen = (swap.waiting_for_slot_until, swap.slot_position)
            if waiting and seen != shown:  # a new wait (or a new place in the queue)
                self.stdout.write(waiting)
                shown = seen
            if time.monotonic() > deadline:
                if waiting:
                    raise CommandError(
                        f"Swap #{swap.pk} is still waiting for a platform call slot after "
                        f"{wait_seconds:g} s; it is sent as soon as one is free. {waiting}"
                    )
                raise CommandError(
                    f"Swap #{swap.pk} is still {swap.get_state_display().lower()} after "
                    f"{wait_seconds:g} s (attempts: {swap.attempts}). "
                    + (no_worker or "Is a Celery worker running?")
                )
            time.sleep(0.5)
            swap.refresh_from_db()
        if swap.state == SwapState.CODE_ISSUED:
            try:
                code = swap_reveal_code(swap=swap, actor=actor)
            except (SwapRefused, PermissionDenied) as exc:
                raise CommandError(f"Swap #{swap.pk}: {exc}") from None
            expiry = (
                swap.code_expires_at.isoformat() if swap.code_expires_at else "never (timeout 0)"
            )
            self.stdout.write(f"verifyCode: {code}")
            self.stdout.write(f"expires: {expiry}")
            return
        if swap.state == SwapState.BOUND:
            self.stdout.write(f"Swap #{swap.pk} is already bound.")
            return
        code = f" error {swap.error_code}" if swap.error_code else ""
        raise CommandError(
            f"Swap #{swap.pk} {swap.get_state_display().lower()}{code}: "
            f"{swap.error_text or 'no details'}"
        )


def _require_broker() -> None:
    """Fail before recording anything when the broker cannot take the send task."""
    if celery_app.conf.task_always_eager:
        return
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)
