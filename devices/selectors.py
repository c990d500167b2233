"""Reads: device search, swap lookups with object-level checks, live status.

Lists use keyset pagination on their sort key (no OFFSET, no COUNT over the table), so a page
costs the same at row 10 and at row 1,000,000, and each list is one query whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Collate, Upper
from django.utils import timezone

from devices.identifiers import node_search_key
from devices.limits import (
    MAX_SEARCH_QUERY_LENGTH,
    MIN_SEARCH_CONTAINS_LENGTH,
    MIN_SEARCH_SUFFIX_LENGTH,
)
from devices.models import OPEN_SWAP_STATES, Device, Swap, SwapAttempt, SwapState
from devices.permissions import Perm
from devices.roles import can_view_swap
from iotadmin.paging import after_position, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class DevicePage:
    items: list[Device]
    next_cursor: str | None


@dataclass(frozen=True)
class LiveStatus:
    """What the platform says about a device right now; `error` is staff-facing text."""

    status: str | None = None
    status_detail: str | None = None
    node_id: str | None = None
    activated: bool | None = None
    error: str = ""
    error_code: str = ""
    # Nothing was sent and asking again later may work (network, store, flow limit).
    retryable: bool = False
    # Our flow limiter had no slot within the wait: when one is expected, and the calls ahead.
    throttled: bool = False
    retry_after: float = 0.0
    queue_position: int = 0


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE_SIZE))


# Past every character: `key >= q AND key < q + _PAST_PREFIX` is "starts with q" as a b-tree
# range in code-point order (only a key with U+10FFFF right after the prefix is missed).
_PAST_PREFIX = "\U0010ffff"
# The ways of matching, in page order, and the indexed column each one is ordered by (then by
# id). The contains branch is ordered by id alone: see `device_search`.
_BY_DEVICE_ID, _BY_NODE_KEY, _BY_NAME, _BY_NODE_SUFFIX, _BY_CONTAINS = 0, 1, 2, 3, 4
_BRANCH_KEY = {
    _BY_DEVICE_ID: "device_id",
    _BY_NODE_KEY: "node_key",
    _BY_NAME: "name_key",
    _BY_NODE_SUFFIX: "node_key_reversed",
}
_BRANCHES = (*_BRANCH_KEY, _BY_CONTAINS)
_BRANCH_COLUMN = "search_branch"  # the column _union_all adds to each raw row (not a model field)


def _code_point_order(column: str) -> Any:
    """The column compared and sorted in code-point order, as Python compares str: SQLite's
    default (BINARY); on PostgreSQL COLLATE "C", served by the indexes of migration 0005."""
    if connections[Device.objects.db].vendor == "postgresql":
        return Collate(F(column), "C")
    return F(column)


def _search_position(after: str | None) -> tuple[int, str, int] | None:
    position = decode_cursor(after, 3)
    if position is None:
        return None
    branch, key, pk = position
    if type(branch) is not int or branch not in _BRANCHES:
        return None
    if not isinstance(key, str) or type(pk) is not int or not _storable(key):
        return None
    return branch, key, pk


def _storable(text: str) -> bool:
    """Text a database can compare: no NUL (PostgreSQL refuses it), no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prefix(alias: str, prefix: Any, past_prefix: Any) -> Q:
    return Q(**{f"{alias}__gte": prefix, f"{alias}__lt": past_prefix})


def _suffix_key(key: str) -> str:
    """The node key's end to look for, reversed; "" when the query is no nodeId's last digits."""
    if len(key) < MIN_SEARCH_SUFFIX_LENGTH or not (key.isascii() and key.isalnum()):
        return ""
    if not any(char.isdigit() for char in key):
        return ""  # a word: the name branches look for it
    return key[::-1]


def _contains_token(query: str) -> str:
    """The word of the query the trigram indexes look up: the one with the most letters (then
    the longest). A trigram index reads every trigram's list of rows, and a whole query such as
    "Water meter Harbour-0200000 Ashfield" holds very common ones ("WAT", "000"): one
    distinctive word narrows the rows as well at a fraction of the reads."""
    words = [word for word in query.split() if len(word) >= MIN_SEARCH_CONTAINS_LENGTH]
    if not words:
        return query
    return max(words, key=lambda word: (sum(char.isalpha() for char in word), len(word)))


def _contains_match(query: str) -> Q:
    """The name or the location contains the query, case-insensitive (as the database folds
    case). Indexed through one word of it (`_contains_token`, `UPPER(column) LIKE`, the trigram
    indexes); the whole query is then checked on those rows: on name_key for names (no index
    serves it, so the planner cannot look the whole query up too), and on UPPER(location) for
    locations. Both have statistics (name_key as a column, UPPER(location) as the trigram
    index's expression), so PostgreSQL estimates how many rows match and chooses between
    walking the primary key (many matches) and reading the trigram indexes (few). Checked on an
    expression without statistics, a district (", Hillside": 83,000 locations) was estimated at
    a handful of rows and read and sorted whole (0.5-1.1 s at 1,000,000 devices)."""
    token = _contains_token(query)
    if token == query:
        return Q(name__icontains=query) | Q(location__icontains=query)
    whole = Upper(Value(query, output_field=CharField()))
    return Q(name__icontains=token, name_key__contains=whole) | Q(location__icontains=token) & Q(
        location__icontains=query
    )


def search_contains_applies(query: str) -> bool:
    """Whether names and locations are searched for the query anywhere in them (the page
    explains the minimum when the query is shorter)."""
    return len((query or "").strip()) >= MIN_SEARCH_CONTAINS_LENGTH


def device_search(
    *, query: str, after: str | None = None, limit: int = 25, include_deleted: bool = False
) -> DevicePage:
    """Devices matching the search box, one keyset page.

    Matches deviceId exactly, the nodeId by its normalised key exactly or as a prefix (IMEI with
    or without urn:imei:, MAC in any notation), the name as a case-insensitive prefix, the
    nodeId by its last characters (at least 6, a digit among them: the end of an IMEI or serial
    on a label), and, from 3 characters on, the name or the location containing the query
    anywhere (case-insensitive).

    Order: the exact deviceId match first, then the nodeId prefix matches by nodeId key, then
    the name prefix matches by upper-cased name, then the nodeId suffix matches by reversed
    nodeId key, each in code-point order and then by id, then the contains matches by id; an
    empty query lists every device by name. Each way of matching is its own branch, limited to
    limit + 1 rows: the index branches read their own index in order, so a prefix matching
    100,000 devices reads about limit + 1 index entries. The contains branch is ordered by id so
    that PostgreSQL can serve it either way at the same cost: a broad query (3 letters in a fifth
    of the fleet) walks the primary key and stops after limit + 1 matches; a narrow one (a street
    word) reads its few matches from the trigram indexes and sorts them. Ordered by name, a broad
    query had to fetch and sort every match (200,000 rows: 0.35-0.55 s at 1,000,000 devices);
    benchmarks/README.md, search_million.py. A device is listed in the first
    branch it matches only. The branches are one UNION ALL query under LIMIT limit + 1, so a
    later branch is not even run when the earlier ones fill the page; the cursor holds (branch,
    key, id) of the page's last row.
    """
    query = (query or "").strip()[:MAX_SEARCH_QUERY_LENGTH]
    if not _storable(query):
        return DevicePage(items=[], next_cursor=None)  # no stored text holds it
    limit = _limit(limit)
    position = _search_position(after)
    devices: QuerySet[Device] = Device.objects.alias(
        **{f"{column}_ordered": _code_point_order(column) for column in set(_BRANCH_KEY.values())},
    )
    if not include_deleted:
        devices = devices.filter(deleted_on_platform_at__isnull=True)
    matches: dict[int, Q] = {}
    if not query:
        matches[_BY_NAME] = Q()
    else:
        matches[_BY_DEVICE_ID] = Q(device_id=query)
        key = node_search_key(query)
        if key:
            matches[_BY_NODE_KEY] = _prefix("node_key_ordered", key, key + _PAST_PREFIX)
        # The database upper-cases both sides, as it computes name_key: the same folding.
        matches[_BY_NAME] = _prefix(
            "name_key_ordered",
            Upper(Value(query, output_field=CharField())),
            Upper(Value(query + _PAST_PREFIX, output_field=CharField())),
        )
        reversed_key = _suffix_key(key)
        if reversed_key:
            matches[_BY_NODE_SUFFIX] = _prefix(
                "node_key_reversed_ordered", reversed_key, reversed_key + _PAST_PREFIX
            )
        if search_contains_applies(query):
            matches[_BY_CONTAINS] = _contains_match(query)
    branches: list[tuple[int, QuerySet[Device]]] = []
    earlier = Q()
    for branch, match in matches.items():
        branch_rows = devices.filter(match)
        if earlier:
            branch_rows = branch_rows.exclude(earlier)  # listed by an earlier branch
        earlier |= match
        if position is not None and branch < position[0]:
            continue  # the pages before the cursor's branch are done
        if branch == _BY_CONTAINS:
            if position is not None and branch == position[0]:
                branch_rows = branch_rows.filter(pk__gt=position[2])
            branches.append((branch, branch_rows.order_by("id")[: limit + 1]))
            continue
        ordered = f"{_BRANCH_KEY[branch]}_ordered"
        if position is not None and branch == position[0]:
            _, key_after, pk_after = position
            branch_rows = branch_rows.filter(
                after_position(column=ordered, value=key_after, pk=pk_after)
            )
        branches.append((branch, branch_rows.order_by(ordered, "id")[: limit + 1]))
    rows = _union_all(branches, limit=limit + 1)
    rows.sort(key=lambda row: (_branch(row), _sort_value(row), row.pk))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([_branch(last), _sort_value(last), last.pk])
    return DevicePage(items=rows, next_cursor=next_cursor)


def _branch(device: Device) -> int:
    return getattr(device, _BRANCH_COLUMN)


def _sort_value(device: Device) -> str:
    branch = _branch(device)
    if branch == _BY_CONTAINS:
        return ""  # contains matches are in id order (see device_search)
    return getattr(device, _BRANCH_KEY[branch])


def _union_all(branches: list[tuple[int, QuerySet[Device]]], *, limit: int) -> list[Device]:
    """One query: each branch (ordered and limited) wrapped as a subquery, so both SQLite and
    PostgreSQL accept its ORDER BY and LIMIT inside the UNION ALL; rows carry search_branch.

    The outer LIMIT stops the query once the branches, run one after another in page order,
    have given that many rows: a broad prefix filling the page never starts the contains
    branch (the caller still sorts what comes back)."""
    parts: list[str] = []
    params: list[object] = []
    for branch, branch_rows in branches:
        sql, branch_params = branch_rows.query.sql_with_params()
        # Only our compiled SQL and an int go in the text; the values stay parameters.
        alias = f"b{int(branch)}"
        select = f"SELECT {alias}.*, {int(branch)} AS {_BRANCH_COLUMN} FROM ({sql}) {alias}"  # noqa: S608
        parts.append(select)
        params.extend(branch_params)
    sql = " UNION ALL ".join(parts) + f" LIMIT {int(limit)}"
    return list(Device.objects.raw(sql, params))


def device_live_status(
    *, device: Device, max_wait: float = 5.0, lane: str = "interactive"
) -> LiveStatus:
    """Ask the platform for the device's status (one call in `lane`); platform errors become
    `error` text."""
    from devices.platform_wiring import get_client
    from oceanconnect import Lane, PlatformError, PlatformThrottled

    try:
        platform_device = get_client().get_device(
            device.device_id, app_id=device.app_id or None, max_wait=max_wait, lane=Lane(lane)
        )
    except PlatformThrottled as exc:
        return LiveStatus(
            error=exc.handling_text,
            error_code=exc.code or "",
            retryable=True,
            throttled=True,
            retry_after=exc.retry_after or 0.0,
            queue_position=exc.queue_position,
        )
    except PlatformError as exc:
        return LiveStatus(
            error=exc.handling_text, error_code=exc.code or "", retryable=exc.retryable
        )
    info = platform_device.info
    detail = info.status_detail
    activated = None
    if info.status == "INACTIVE" or detail == "NOT_ACTIVE":
        activated = False
    elif info.status in ("ONLINE", "OFFLINE", "ABNORMAL"):
        activated = True
    return LiveStatus(
        status=info.status, status_detail=detail, node_id=info.node_id, activated=activated
    )


def swap_slot_wait(*, swap: Swap, now: datetime | None = None) -> str:
    """While a queued swap waits for a flow-limit slot: its lane, the calls ahead of it and
    about how long (for the swap page and `rekey --wait`); "" otherwise. No query."""
    until = swap.waiting_for_slot_until
    if swap.state != SwapState.QUEUED or until is None:
        return ""
    now = now or timezone.now()
    seconds = max(0, round((until - now).total_seconds()))
    ahead = swap.slot_position or 0
    return (
        f"Waiting for a platform call slot ({swap.lane} lane): {ahead} "
        f"call{'s' if ahead != 1 else ''} ahead, about {seconds} s."
    )


# A swap queued longer than this with no live worker is said to be stuck, not "queued".
NO_WORKER_GRACE_SECONDS = 5


def swap_worker_notice(*, swap: Swap, now: datetime | None = None) -> str:
    """For a swap waiting to be sent (queued or sending) for more than a few seconds while no
    Celery worker has a fresh heartbeat: what is happening and what to do; "" otherwise.
    Reads the heartbeats only in that case (a swap sent at once costs nothing)."""
    from iotadmin.heartbeats import workers_alive

    if swap.state not in (SwapState.QUEUED, SwapState.SENDING):
        return ""
    now = now or timezone.now()
    if (now - swap.updated_at).total_seconds() < NO_WORKER_GRACE_SECONDS:
        return ""
    if workers_alive(now=now.timestamp()):
        return ""
    return (
        "No worker is running to send this swap. It is safe and stays queued; it is sent as "
        "soon as a worker starts. Ask the helpdesk or your administrator to start the Celery "
        "worker (queues celery and platform-send)."
    )


def swap_attempts(*, swap: Swap) -> list[SwapAttempt]:
    """Every refresh sent for `swap`, oldest first (no codes: only their hashes are stored)."""
    return list(SwapAttempt.objects.filter(swap=swap).order_by("number"))


def open_swap_for_device(*, device: Device) -> Swap | None:
    """The device's open swap, whoever opened it (with its requester, for "opened by")."""
    return (
        device.swaps.filter(state__in=OPEN_SWAP_STATES)
        .select_related("requested_by")
        .order_by("-created_at", "-id")
        .first()
    )


def help_requested(*, swap: Swap, user: User) -> bool:
    """Whether `user` has already asked the helpdesk about `swap` (an audit event)."""
    from audit.models import AuditAction, AuditEvent

    return AuditEvent.objects.filter(
        action=AuditAction.HELP_REQUESTED, swap_id=swap.pk, actor_id=user.pk
    ).exists()


def _swaps() -> QuerySet[Swap]:
    return Swap.objects.select_related("device", "requested_by", "decided_by", "reissue_of")


def swap_for_user(*, user: User, swap_id: int) -> Swap:
    """The swap if this user may see it: Swap.DoesNotExist or PermissionDenied otherwise."""
    swap = _swaps().get(pk=swap_id)
    if not can_view_swap(user, swap):
        raise PermissionDenied("You may not see this swap.")
    return swap


def _visible_swaps(user: User) -> QuerySet[Swap]:
    swaps = _swaps()
    if not (
        user.has_perm(Perm.MANAGE_ANY_SWAP)
        or user.has_perm(Perm.VIEW_HISTORY)
        or user.has_perm(Perm.VIEW_SWAP)
    ):
        swaps = swaps.filter(requested_by_id=user.pk)
    return swaps


def swaps_for_device(*, device: Device, user: User, limit: int = 20) -> list[Swap]:
    """The latest swaps of one device this user may see, newest first."""
    return list(_visible_swaps(user).filter(device=device).order_by("-created_at", "-id")[:limit])
