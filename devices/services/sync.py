"""Mirror the platform's device registry into Device rows (`devices_sync`).

Each page of the platform's list is written with a constant number of queries: one SELECT of the
rows the page already has, one upsert (`_upsert`: one multi-row statement), the walk's
position, and at most one UPDATE for rows a newer push already overtook. A run that lists every
page of every app without error then reads each row it did not see directly and marks it deleted
on the platform only when that read says the device is gone (404 / 100403 / 100418); a run that
fails part-way marks nothing.

The walk is resumable: its position (list, next page, counts so far) is one SyncWalk row,
written in the same transaction as each page's rows, so a worker killed outright loses at most
the page in flight. One run at a time holds the sync lock, renewed before every page
(IOT_SYNC_LOCK_TTL_SECONDS): the lock of a killed worker lapses by itself, and a run that finds
its lock lapsed (it waited that long for a slot) and taken stops before its next page. A run
given a budget (`deadline`, `max_pages`) stops cleanly before the next page once it is spent
and returns `finished=False`; the next run continues the same walk (its unseen rows are those
not seen since the walk started). A walk older than
SYNC_WALK_MAX_AGE, or over other lists, is abandoned and a new one starts. Every call runs in
the background lane of the flow limiter.

`device_refresh` reads one device now (an interactive call) and updates its row.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from devices.identifiers import node_search_key
from devices.limits import MAX_DEVICE_ID_LENGTH
from devices.models import Device, DeviceStatus, SyncWalk
from devices.platform_wiring import get_client
from devices.services.offline import (
    OFFLINE_STATUSES,
    device_live_status_forget,
    swaps_release_offline,
)
from oceanconnect import Lane, PlatformDevice, PlatformError, lane_scope
from oceanconnect.catalogue import DEVICE_GONE_CODES

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# The columns a sync writes; everything a list page tells us about a device.
MIRRORED_FIELDS = (
    "node_id",
    "node_key",
    "app_id",
    "name",
    "location",
    "manufacturer",
    "model",
    "device_type",
    "protocol",
    "status",
    "status_detail",
    "activated",
)
SYNC_UPDATE_FIELDS = [
    *MIRRORED_FIELDS,
    "platform_updated_at",
    "last_synced_at",
    "deleted_on_platform_at",
]
PAGE_SIZE = 250
# One sync at a time across every process; the lock lapses by itself if its holder dies
# (settings.IOT_SYNC_LOCK_TTL_SECONDS after its last page).
SYNC_LOCK_KEY = "devices-sync"
# An unfinished walk older than this is abandoned: its start no longer says what "unseen" means.
SYNC_WALK_MAX_AGE = timedelta(hours=6)
# Seconds a refresh from the device page waits for a flow-limit slot.
REFRESH_MAX_WAIT = 10.0


class SyncAlreadyRunning(Exception):
    """Another process is syncing the mirror right now."""


class SyncLockLost(SyncAlreadyRunning):
    """This run's lock lapsed (it waited too long) and another run took the walk over."""


_KNOWN_STATUSES = {choice.value for choice in DeviceStatus}


@dataclass(frozen=True)
class SyncResult:
    """What one sync run did, for the command's summary line and the audit trail."""

    pages: int
    created: int
    updated: int
    marked_deleted: int
    restored: int
    # False when the run's budget ran out mid-walk: the next run continues it.
    finished: bool = True

    def as_dict(self) -> dict[str, int]:
        return {
            "pages": self.pages,
            "created": self.created,
            "updated": self.updated,
            "marked_deleted": self.marked_deleted,
            "restored": self.restored,
        }

    def summary(self) -> str:
        if not self.finished:
            return (
                f"Synced {self.pages} page(s) so far ({self.created} created, {self.updated} "
                "updated); the walk continues in the next run."
            )
        return (
            f"Synced {self.pages} page(s): {self.created} created, {self.updated} updated, "
            f"{self.marked_deleted} marked deleted on the platform, {self.restored} restored."
        )


def authorizing_app_ids() -> list[str]:
    """The apps that authorize ours and whose devices we mirror too (IOT_AUTHORIZING_APP_IDS)."""
    raw = getattr(settings, "IOT_AUTHORIZING_APP_IDS", [])
    if isinstance(raw, str):
        raw = raw.split(",")
    return [app_id.strip() for app_id in raw if app_id and app_id.strip()]


def device_status(raw: str | None) -> str:
    """The platform's status string as a DeviceStatus value (UNKNOWN for anything new)."""
    value = (raw or "").strip().upper()
    return value if value in _KNOWN_STATUSES else DeviceStatus.UNKNOWN


def device_activated(*, status: str, status_detail: str) -> bool:
    """INACTIVE / NOT_ACTIVE mean the device never connected; any other state means it did."""
    return status != DeviceStatus.INACTIVE and status_detail.upper() != "NOT_ACTIVE"


def _text(value: object, field: str) -> str:
    """A platform string fit for its column: no NUL (PostgreSQL refuses it), not over-long."""
    if value is None:
        return ""
    column = Device._meta.get_field(field)
    assert isinstance(column, models.Field)  # a concrete column, never a relation
    max_length = column.max_length
    return str(value).replace("\x00", "")[:max_length]


def _device_from_platform(
    platform_device: PlatformDevice, *, app_id: str, fetched_at: datetime
) -> Device:
    info = platform_device.info
    node_id = _text(info.node_id, "node_id")
    status = device_status(info.status)
    status_detail = _text(info.status_detail, "status_detail")
    return Device(
        device_id=platform_device.device_id,
        node_id=node_id,
        node_key=node_search_key(node_id),
        app_id=app_id,
        name=_text(info.name, "name"),
        location=_text(info.location, "location"),
        manufacturer=_text(info.manufacturer_name or info.manufacturer_id, "manufacturer"),
        model=_text(info.model, "model"),
        device_type=_text(info.device_type, "device_type"),
        protocol=_text(info.protocol_type, "protocol"),
        status=status,
        status_detail=status_detail,
        activated=device_activated(status=status, status_detail=status_detail),
        platform_updated_at=platform_device.last_modified_time or fetched_at,
        last_synced_at=fetched_at,
        deleted_on_platform_at=None,
    )


def _latest_credible_time() -> datetime:
    return timezone.now() + timedelta(seconds=settings.PUSH_MAX_FUTURE_SECONDS)


def _overtaken_by_push(existing: dict[str, Any], listed: Device, *, fetched_at: datetime) -> bool:
    """A push received after this page was fetched holds a newer state than the page.

    A time beyond the push bound (PUSH_MAX_FUTURE_SECONDS ahead) is no news but a broken or
    forged clock: the listing repairs that row, resetting its freshness.
    """
    held = existing["platform_updated_at"]
    if held is None or held <= fetched_at or held > _latest_credible_time():
        return False
    return listed.platform_updated_at is None or held > listed.platform_updated_at


# Rows per INSERT statement: 500 x 15 parameters stays under SQLite's 32,766 and PostgreSQL's
# 65,535 (a list page has at most 250 devices).
UPSERT_CHUNK = 500


def _upsert(devices: Sequence[Device]) -> None:
    """Insert or update `devices` by deviceId: one multi-row INSERT ... ON CONFLICT DO UPDATE
    per page (PostgreSQL and SQLite >= 3.24 both speak it). The same statement as
    bulk_create(update_conflicts=True), without compiling every value of every row through the
    ORM, which was most of a page's cost at 100,000 devices."""
    qn = connection.ops.quote_name
    fields: list[models.Field[Any, Any]] = []
    for name in ("device_id", *SYNC_UPDATE_FIELDS):
        field = Device._meta.get_field(name)
        assert isinstance(field, models.Field)  # concrete columns, never relations
        fields.append(field)
    columns = [qn(field.column) for field in fields]
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    row_marks = f"({', '.join(['%s'] * len(columns))})"
    adapt_time = connection.ops.adapt_datetimefield_value
    timed = [isinstance(field, models.DateTimeField) for field in fields]
    names = [field.attname for field in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(devices), UPSERT_CHUNK):
            chunk = devices[start : start + UPSERT_CHUNK]
            params = [
                adapt_time(getattr(device, name)) if is_time else getattr(device, name)
                for device in chunk
                for name, is_time in zip(names, timed, strict=True)
            ]
            # Table and column names come from the model; every value is a parameter.
            cursor.execute(
                f"INSERT INTO {qn(Device._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
                f"VALUES {', '.join([row_marks] * len(chunk))} "
                f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}",
                params,
            )


@dataclass
class _PageCounts:
    created: int = 0
    updated: int = 0
    restored: int = 0


def _write_page(
    devices: Sequence[PlatformDevice],
    *,
    app_id: str,
    fetched_at: datetime,
    then: Callable[[_PageCounts], None] | None = None,
) -> _PageCounts:
    """Upsert one page's devices; `then(counts)` runs in the same transaction (the walk's
    position is saved with the rows it describes)."""
    counts = _PageCounts()
    listed: dict[str, Device] = {}
    for platform_device in devices:
        # A deviceId that cannot be stored as-is cannot be matched to pushes either: skip it.
        device_id = platform_device.device_id
        if device_id and len(device_id) <= MAX_DEVICE_ID_LENGTH and "\x00" not in device_id:
            listed[platform_device.device_id] = _device_from_platform(
                platform_device, app_id=app_id, fetched_at=fetched_at
            )
    with transaction.atomic():
        if not listed:
            if then is not None:
                then(counts)
            return counts
        existing = {
            row["device_id"]: row
            for row in Device.objects.select_for_update()
            .filter(device_id__in=listed)
            .values("device_id", "platform_updated_at", "deleted_on_platform_at", *MIRRORED_FIELDS)
        }
        to_upsert: list[Device] = []
        only_seen: list[str] = []
        for device_id, device in listed.items():
            row = existing.get(device_id)
            if row is None:
                counts.created += 1
                to_upsert.append(device)
                continue
            if _overtaken_by_push(row, device, fetched_at=fetched_at):
                only_seen.append(device_id)
                continue
            if row["deleted_on_platform_at"] is not None:
                counts.restored += 1
            if any(row[field] != getattr(device, field) for field in MIRRORED_FIELDS):
                counts.updated += 1
            to_upsert.append(device)
        if to_upsert:
            _upsert(to_upsert)
        if only_seen:
            # Seen, so not to be marked deleted, but the push's state (even a deletion) stays.
            Device.objects.filter(device_id__in=only_seen).update(last_synced_at=fetched_at)
        if then is not None:
            then(counts)
    return counts


def _unseen(*, app_ids: Iterable[str], run_started_at: datetime) -> Any:
    """Rows of the listed apps that no page of this run carried.

    A row a push created or changed during the run (platform_updated_at after the start) is not
    one: the push is newer news than the listing.
    """
    return (
        Device.objects.filter(app_id__in=list(app_ids), deleted_on_platform_at__isnull=True)
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=run_started_at))
        .filter(
            Q(platform_updated_at__isnull=True)
            | Q(platform_updated_at__lt=run_started_at)
            | Q(platform_updated_at__gt=_latest_credible_time())
        )
    )


def _really_gone(error: PlatformError) -> bool:
    return error.code in DEVICE_GONE_CODES or (error.code is None and error.http_status == 404)


def _mark_unseen_deleted(
    *, client: Any, app_ids: Iterable[str], run_started_at: datetime, max_wait: float | None
) -> tuple[int, int]:
    """Mark deleted the unseen rows the platform says are gone; (marked, seen again).

    Missing from one walk is not proof: a device deleted (or registered) during the walk shifts
    the pages after it, so a device that exists may fall between two pages. Each unseen row is
    read directly; only 404 / 100403 / 100418 mark it deleted, a device that answers is written
    as seen. Any other error ends the run (raised) with nothing more marked.
    """
    unseen = list(
        _unseen(app_ids=app_ids, run_started_at=run_started_at).values_list("device_id", "app_id")
    )
    gone: list[str] = []
    seen_again = 0
    for device_id, app_id in unseen:
        fetched_at = timezone.now()
        try:
            platform_device = client.get_device(device_id, app_id=app_id or None, max_wait=max_wait)
        except ValueError:
            gone.append(device_id)  # not even a deviceId the platform could hold
            continue
        except PlatformError as exc:
            if not _really_gone(exc):
                raise
            gone.append(device_id)
            continue
        seen_again += 1
        _write_page([platform_device], app_id=app_id, fetched_at=fetched_at)
    if not gone:
        return 0, seen_again
    marked = (
        _unseen(app_ids=app_ids, run_started_at=run_started_at)
        .filter(device_id__in=gone)
        .update(deleted_on_platform_at=timezone.now())
    )
    return marked, seen_again


def devices_sync(
    *,
    actor: User | None = None,
    max_wait: float | None = None,
    deadline: float | None = None,
    max_pages: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SyncResult:
    """Pull every page of the platform's device lists (ours and each authorizing app's),
    continuing the open walk if there is one.

    Stops before the next page once `clock()` passes `deadline` or this run read `max_pages`
    pages, and returns finished=False (the position is kept for the next run). Raises
    SyncAlreadyRunning when another process holds the sync lock.
    """
    client = get_client()
    owner = uuid.uuid4().hex
    ttl = float(settings.IOT_SYNC_LOCK_TTL_SECONDS)
    if not client.store.acquire_lock(SYNC_LOCK_KEY, owner=owner, ttl=ttl):
        raise SyncAlreadyRunning("Another device sync is running; try again when it has finished.")

    def hold_lock() -> None:
        if not client.store.extend_lock(SYNC_LOCK_KEY, owner=owner, ttl=ttl):
            raise SyncLockLost("The sync lock lapsed and another run took the walk over.")

    try:
        # Every call of the walk (and the login it may need) waits behind people's swaps.
        with lane_scope(Lane.BACKGROUND):
            return _devices_sync(
                client=client,
                actor=actor,
                max_wait=max_wait,
                budget_spent=lambda pages: (
                    (max_pages is not None and pages >= max_pages)
                    or (deadline is not None and clock() >= deadline)
                ),
                hold_lock=hold_lock,
            )
    finally:
        client.store.release_lock(SYNC_LOCK_KEY, owner=owner)


def _open_walk(app_ids: list[str]) -> SyncWalk:
    """The walk to continue, or a new one (not saved until it has a position to keep)."""
    walk = SyncWalk.objects.filter(finished_at__isnull=True).order_by("-started_at", "-id").first()
    now = timezone.now()
    if walk is not None and walk.app_ids == app_ids and walk.started_at > now - SYNC_WALK_MAX_AGE:
        return walk
    if walk is not None:
        logger.info("Device sync: abandoning %s and starting a new walk", walk)
        SyncWalk.objects.filter(finished_at__isnull=True).update(finished_at=now)
    return SyncWalk(walk_id=uuid.uuid4().hex, app_ids=app_ids, started_at=now)


def _save_walk(walk: SyncWalk, *extra: str) -> None:
    if walk.pk is None:
        walk.save()
    else:
        walk.save(update_fields=[*_WALK_FIELDS, *extra])


def _walk_result(walk: SyncWalk, *, marked_deleted: int = 0, finished: bool) -> SyncResult:
    return SyncResult(
        pages=walk.pages,
        created=walk.created,
        updated=walk.updated,
        marked_deleted=marked_deleted,
        restored=walk.restored,
        finished=finished,
    )


_WALK_FIELDS = ["app_index", "page_no", "pages", "created", "updated", "restored", "updated_at"]


def _devices_sync(
    *,
    client: Any,
    actor: User | None,
    max_wait: float | None,
    budget_spent: Callable[[int], bool],
    hold_lock: Callable[[], None],
) -> SyncResult:
    app_ids = ["", *authorizing_app_ids()]
    walk = _open_walk(app_ids)
    try:
        if not _walk_lists(
            client=client,
            walk=walk,
            max_wait=max_wait,
            budget_spent=budget_spent,
            hold_lock=hold_lock,
        ):
            _save_walk(walk)
            logger.info("Device sync stopped at %s; the next run continues", walk)
            return _walk_result(walk, finished=False)
    except SyncLockLost:
        logger.warning("Device sync stopped at %s: its lock was taken over", walk)
        raise  # the walk is the other run's now: its saved position stays as that run keeps it
    except BaseException:
        # Failed or interrupted (the task's soft time limit): keep what was read; the page in
        # flight is read again by the next run. A database that fails too keeps the error.
        with contextlib.suppress(DatabaseError):
            _save_walk(walk)
        raise
    marked_deleted, seen_again = _mark_unseen_deleted(
        client=client, app_ids=app_ids, run_started_at=walk.started_at, max_wait=max_wait
    )
    if seen_again:
        logger.info("%d device(s) missing from the list answered a direct read", seen_again)
    if walk.pk is not None:  # a walk done within one run leaves no row behind
        walk.finished_at = timezone.now()
        _save_walk(walk, "finished_at")
    result = _walk_result(walk, marked_deleted=marked_deleted, finished=True)
    audit_record(action=AuditAction.DEVICES_SYNCED, actor=actor, after=result.as_dict())
    logger.info("Device sync done: %s", result.as_dict())
    return result


def _walk_lists(
    *,
    client: Any,
    walk: SyncWalk,
    max_wait: float | None,
    budget_spent: Callable[[int], bool],
    hold_lock: Callable[[], None],
) -> bool:
    """Read the walk's lists from its position on, saving the position with each page's rows.
    False when the budget ran out before the walk's end; SyncLockLost when another run took
    the lock over."""

    def advance(counts: _PageCounts, *, next_page: int) -> None:
        walk.pages += 1
        walk.created += counts.created
        walk.updated += counts.updated
        walk.restored += counts.restored
        walk.page_no = next_page
        _save_walk(walk)

    run_pages = 0
    while walk.app_index < len(walk.app_ids):
        app_id = walk.app_ids[walk.app_index]
        page_iter = client.iter_device_pages(
            page_size=PAGE_SIZE, app_id=app_id or None, max_wait=max_wait, start_page=walk.page_no
        )
        while True:
            if budget_spent(run_pages):
                return False
            hold_lock()
            # Taken before the request: a push received while the page was in flight wins.
            fetched_at = timezone.now()
            page = next(page_iter, None)
            if page is None:
                break
            run_pages += 1
            next_page = page.page_no + 1

            def saved(counts: _PageCounts, next_page: int = next_page) -> None:
                advance(counts, next_page=next_page)

            _write_page(page.devices, app_id=app_id, fetched_at=fetched_at, then=saved)
        walk.app_index += 1
        walk.page_no = 0
    return True


class DeviceRefreshFailed(Exception):
    """The device could not be read from the platform; `message` is for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def device_refresh(*, device: Device, actor: Any) -> Device:
    """Read `device` from the platform now (one interactive call) and update its mirror row.

    Raises DeviceRefreshFailed with a message for the person (nothing changed) when the
    platform cannot be asked; a device the platform says is gone is marked deleted.
    """
    fetched_at = timezone.now()
    try:
        platform_device = get_client().get_device(
            device.device_id,
            app_id=device.app_id or None,
            max_wait=REFRESH_MAX_WAIT,
            lane=Lane.INTERACTIVE,
        )
    except ValueError:
        raise DeviceRefreshFailed("This deviceId cannot be read from the platform.") from None
    except PlatformError as exc:
        if _really_gone(exc):
            Device.objects.filter(pk=device.pk, deleted_on_platform_at__isnull=True).update(
                deleted_on_platform_at=fetched_at
            )
            device.refresh_from_db()
            return device
        code = f" (error {exc.code})" if exc.code else ""
        raise DeviceRefreshFailed(
            f"Could not read the device from the platform{code}. Nothing was changed; try "
            "again in a moment."
            if exc.retryable
            else f"Could not read the device from the platform{code}: {exc.handling_text}"
        ) from None
    _write_page([platform_device], app_id=device.app_id, fetched_at=fetched_at)
    logger.info("device %s refreshed from the platform by %s", device.device_id, actor)
    device.refresh_from_db()
    device_live_status_forget(device=device)
    if device.status in OFFLINE_STATUSES:  # a swap waiting for the old unit to go offline
        swaps_release_offline(device=device, seen_by="refresh from the platform")
    return device
