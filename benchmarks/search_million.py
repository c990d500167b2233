"""Benchmark: the device search box (`devices.selectors.device_search`) over a million devices.

    .venv/bin/python benchmarks/search_million.py [--rows 1000000] [--runs 50] [--try-fix]
        [--database-url postgres://postgres@127.0.0.1:5432/iotadmin_bench] [--keep] [--reuse]
    .venv/bin/python benchmarks/search_million.py --sqlite [--rows 200000]

PostgreSQL (default): creates the scratch database named in --database-url (it must not exist,
unless --reuse), migrates it, loads --rows Device rows with COPY, runs ANALYZE, then times each
query shape of the search box through the real selector, `device_search(query=..., after=...,
limit=25)` (the view's page size), and prints median and p95 over --runs calls (after 3 warm-up
calls), the rows returned, and EXPLAIN (ANALYZE, BUFFERS) of the SQL the selector ran. The
database is dropped at the end unless --keep.

--try-fix (PostgreSQL) then adds the index proposed in benchmarks/README.md to the scratch
database and times the proposed query (`proposed_sql`, raw SQL) for the same shapes.

--sqlite does the same on a SQLite file in a temporary folder (the embedded default), with
EXPLAIN QUERY PLAN; --rows defaults to 200,000 there.

The data: nodeIds are 40 % bare IMEIs (HiSilicon), 25 % `urn:imei:` IMEIs (Qualcomm), 20 % MAC
addresses (AA:BB:CC:DD:EE:FF) and 15 % serial numbers; IMEIs share 20 type allocation codes
(TACs, their first 8 digits) as real fleets do, so an 8-digit prefix matches about 1/20 of
the IMEIs; names are "<kind> <district>-<number> <street> <house>" over 8 kinds, 12 districts and
5,000 streets (1,000 street words), 1 % empty; locations "<house> <street>, <district>";
0.5 % of the rows are marked deleted on the platform. node_key is computed with
`devices.identifiers.node_search_key`, as the sync does.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/iotadmin_bench"
PAGE_SIZE = 25  # devices.views.DEVICE_PAGE_SIZE
WARMUP_CALLS = 3
TACS = (
    "86681504", "86988104", "86867703", "35332910", "86217704", "35901305", "86446203",
    "35473809", "86095704", "35209210", "86775303", "35684610", "86384505", "35174711",
    "86537202", "35998812", "86150604", "35712908", "86629905", "35045111",
)  # fmt: skip
OUIS = ("00:1A:79", "3C:71:BF", "24:0A:C4", "B8:27:EB", "A4:CF:12", "DC:A6:32", "70:B3:D5")
KINDS = (
    "Water meter", "Gas meter", "Electricity meter", "Parking sensor", "Streetlight",
    "Smoke detector", "Asset tracker", "Valve controller",
)  # fmt: skip
DISTRICTS = (
    "North", "South", "East", "West", "Harbour", "Airport", "Old Town", "Riverside",
    "Hillside", "Industrial", "Campus", "Market",
)  # fmt: skip
# 1,000 street words x 5 kinds of street: 5,000 streets, 200 devices on each, a street word in
# 0.1 % of the rows (as in a fleet spread over a region's towns, not one city's 500 streets).
STREET_FIRST = (
    "Ash",
    "Birch",
    "Cedar",
    "Elm",
    "Oak",
    "Pine",
    "Maple",
    "Willow",
    "Hazel",
    "Rowan",
    "Alder",
    "Beech",
    "Holly",
    "Larch",
    "Poplar",
    "Yew",
    "Thorn",
    "Heather",
    "Bramble",
    "Fern",
    "Kings",
    "Queens",
    "Mill",
    "Church",
    "Bridge",
    "Castle",
    "Market",
    "Station",
    "Harbour",
    "Abbey",
    "North",
    "South",
    "Green",
    "Stone",
    "Brook",
    "Meadow",
    "Orchard",
    "Chapel",
    "Priory",
    "Manor",
)
STREET_SECOND = (
    "field",
    "wood",
    "brook",
    "ford",
    "ton",
    "ley",
    "hill",
    "gate",
    "more",
    "well",
    "bury",
    "croft",
    "dale",
    "den",
    "hurst",
    "mead",
    "stead",
    "wick",
    "worth",
    "combe",
    "holm",
    "side",
    "view",
    "bank",
    "lea",
)
STREET_WORDS = tuple(first + second for first in STREET_FIRST for second in STREET_SECOND)
STREET_KINDS = ("Street", "Road", "Lane", "Avenue", "Way")
STATUSES = ("ONLINE",) * 12 + ("OFFLINE",) * 6 + ("ABNORMAL",) + ("INACTIVE",)
COLUMNS = (
    "device_id", "node_id", "node_key", "app_id", "name", "location", "manufacturer", "model",
    "device_type", "protocol", "status", "status_detail", "activated",
    "platform_updated_at", "last_synced_at", "deleted_on_platform_at",
)  # fmt: skip


# --- the data --------------------------------------------------------------------------------


def imei(n: int) -> str:
    from devices.identifiers import luhn_check_digit

    tac = TACS[n % len(TACS)]
    serial = (n // len(TACS)) * 7919 % 1_000_000  # 7919 is prime: unique within a TAC
    body = f"{tac}{serial:06d}"
    return body + str(luhn_check_digit(body))


def mac(n: int) -> str:
    low = (n * 2654435761) % (1 << 24)  # odd multiplier: unique per OUI below 2**24
    oui = OUIS[n % len(OUIS)]
    return f"{oui}:{low >> 16:02X}:{(low >> 8) & 255:02X}:{low & 255:02X}"


def node_id_for(i: int) -> str:
    bucket = i % 20
    if bucket < 8:
        return imei(i)
    if bucket < 13:
        return "urn:imei:" + imei(i)
    if bucket < 17:
        return mac(i)
    return f"FW{2018 + i % 7}{i:09d}"


def street_for(i: int) -> tuple[str, int]:
    street = (i * 7919) % (len(STREET_WORDS) * len(STREET_KINDS))
    word = STREET_WORDS[street % len(STREET_WORDS)]
    kind = STREET_KINDS[street // len(STREET_WORDS)]
    return f"{word} {kind}", 1 + (i * 13) % 120


def name_for(i: int) -> str:
    if i % 100 == 99:
        return ""
    kind = KINDS[(i * 7) % len(KINDS)]
    district = DISTRICTS[(i * 11) % len(DISTRICTS)]
    street, house = street_for(i)
    return f"{kind} {district}-{i:07d} {street} {house}"


def location_for(i: int) -> str:
    street, house = street_for(i)
    return f"{house} {street}, {DISTRICTS[(i * 11) % len(DISTRICTS)]}"


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    from devices.identifiers import node_search_key

    rng = random.Random(20_261_126)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    for i in range(count):
        node_id = node_id_for(i)
        status = STATUSES[i % len(STATUSES)]
        updated = now - timedelta(seconds=rng.randrange(90 * 86400))
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            node_id,
            node_search_key(node_id),
            "partner-app" if i % 50 == 0 else "",
            name_for(i),
            location_for(i),
            "Huawei" if i % 3 else "Quectel",
            f"M{i % 40:03d}",
            KINDS[(i * 7) % len(KINDS)].replace(" ", ""),
            "CoAP" if i % 4 else "MQTT",
            status,
            "NOT_ACTIVE" if status == "INACTIVE" else "NONE",
            status != "INACTIVE",
            updated,
            now,
            now - timedelta(days=3) if i % 200 == 7 else None,
        )


def load_postgres(count: int) -> None:
    from django.db import connection

    began = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        sql = f"COPY devices_device ({', '.join(COLUMNS)}) FROM STDIN"
        with raw.copy(sql) as copy:
            for n, row in enumerate(rows(count), 1):
                copy.write_row(row)
                if n % 200_000 == 0:
                    print(f"  {n:,} rows ({time.perf_counter() - began:.0f} s)", flush=True)
        cursor.execute("ANALYZE devices_device")


def load_sqlite(count: int) -> None:
    from django.db import connection, transaction

    sql = (
        f"INSERT INTO devices_device ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    )
    batch: list[tuple[Any, ...]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for row in rows(count):
            batch.append(row)
            if len(batch) == 20_000:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- the query shapes ---------------------------------------------------------------------------


@dataclass
class Shape:
    label: str
    query: str
    after_of: str | None = None  # the query whose first page's cursor is used ("" = empty)


def shapes(count: int) -> list[Shape]:
    """Targets picked from the generated data (the same rows whatever the database)."""
    from devices.models import Device

    def device_at(i: int) -> Device:
        return Device.objects.get(node_id=node_id_for(i))

    bare_imei = next(i for i in range(count // 2, count) if i % 20 == 3)
    urn_imei = next(i for i in range(count // 3, count) if i % 20 == 9)
    a_mac = next(i for i in range(count // 4, count) if i % 20 == 14)
    named = next(i for i in range(count // 5, count) if i % 100 != 99)
    name = name_for(named)
    mac_typed = node_id_for(a_mac).lower().replace(":", "-")
    tac = imei(bare_imei)[:8]
    street, house = street_for(named)
    word = street.split()[0]
    return [
        Shape("exact deviceId", device_at(count // 2 + 1).device_id),
        Shape("IMEI bare, stored as urn:imei:", imei(urn_imei)),
        Shape("IMEI typed urn:imei:, stored bare", "urn:imei:" + imei(bare_imei)),
        Shape("IMEI prefix, 12 digits", imei(bare_imei)[:12]),
        Shape(f"IMEI prefix, 8 digits (TAC {tac})", tac),
        Shape("  same, page 2 (cursor)", tac, after_of=tac),
        Shape("MAC typed aa-bb-cc-dd-ee-ff", mac_typed),
        Shape("name prefix, narrow", name[: len(name) - 2]),
        Shape("name prefix, broad ('gas')", "gas"),
        Shape("  same, page 2 (cursor)", "gas", after_of="gas"),
        Shape("name prefix, broad ('water', sorts last)", "water"),
        Shape("live search, first keystroke ('w')", "w"),
        Shape("live search, two digits ('86')", "86"),
        Shape("empty query, page 1", ""),
        Shape("empty query, page 2 (cursor)", "", after_of=""),
        Shape("no match", "zz-no-such-device-0001"),
        Shape(f"contains: street word in names ({word!r})", word.lower()),
        Shape("  same, page 2 (cursor)", word.lower(), after_of=word.lower()),
        Shape(f"contains: street and number ({street} {house})", f"{street} {house}"),
        Shape("contains: 3 letters, broad ('ood', the minimum)", "ood"),
        Shape("contains: location only, broad (', hillside': a district)", ", hillside"),
        Shape("last 6 digits of an IMEI", imei(bare_imei)[-6:]),
        Shape("last 6 digits of a urn:imei: IMEI", imei(urn_imei)[-6:]),
    ]


def time_calls(call: Callable[[], Any], runs: int) -> list[float]:
    for _ in range(WARMUP_CALLS):
        call()
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


def explain(sql: str, vendor: str) -> list[str]:
    from django.db import connection

    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        found = cursor.fetchall()
    if vendor == "postgresql":
        return [line[0] for line in found]
    return [str(row[3]) for row in found]


def plan_summary(plan: list[str]) -> str:
    """The scan nodes of a plan and the indexes they use, in one line."""
    nodes = []
    for line in plan:
        text = line.strip().lstrip("-> ").strip()
        match = re.match(
            r"(Index Only Scan|Index Scan Backward|Index Scan|Bitmap Index Scan|Seq Scan|"
            r"SEARCH|SCAN|USE TEMP B-TREE|MULTI-INDEX OR)[^(]*",
            text,
        )
        if match:
            nodes.append(re.sub(r"\s+on devices_device(?=\s|$)(\s+\w+)?", "", match.group(0)))
    return "; ".join(n.strip() for n in nodes)


def measure(runs: int, count: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from devices.selectors import device_search

    vendor = connection.vendor
    first_pages: dict[str, str | None] = {}
    results = []
    for shape in shapes(count):
        after = None
        if shape.after_of is not None:
            if shape.after_of not in first_pages:
                first_pages[shape.after_of] = device_search(
                    query=shape.after_of, limit=PAGE_SIZE
                ).next_cursor
            after = first_pages[shape.after_of]
            if after is None:
                raise RuntimeError(f"{shape.label}: the first page has no next page")

        def call(shape: Shape = shape, after: str | None = after) -> Any:
            return device_search(query=shape.query, after=after, limit=PAGE_SIZE)

        with CaptureQueriesContext(connection) as captured:
            page = call()
        if shape.after_of is None:
            first_pages[shape.query] = page.next_cursor
        if len(captured.captured_queries) != 1:
            raise RuntimeError(f"{shape.label}: {len(captured.captured_queries)} queries, not 1")
        sql = captured.captured_queries[0]["sql"]
        timings = time_calls(call, runs)
        plan = explain(sql, vendor)
        results.append((shape, len(page.items), timings, plan, sql))
        print(
            f"{shape.label:<44} {len(page.items):>4} rows  median {statistics.median(timings):7.2f}"
            f" ms  p95 {p95(timings):7.2f} ms  | {plan_summary(plan)}",
            flush=True,
        )
    print()
    for shape, _n, _t, plan, sql in results:
        print(f"--- {shape.label}: {shape.query!r}" + (" (page 2)" if shape.after_of else ""))
        print(sql)
        print("\n".join(plan))
        print()


# --- the proposed query (--try-fix) ---------------------------------------------------------------

FIX_INDEX = (
    "CREATE INDEX IF NOT EXISTS bench_device_name_ci_c_idx "
    'ON devices_device ((UPPER(name::text) COLLATE "C"), id)'
)
SORT_KEY = 'UPPER(d.name::text) COLLATE "C"'


def like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def proposed_sql(query: str, after: tuple[str, int] | None) -> tuple[str, list[Any]]:
    """The search as proposed: one branch per way of matching, each able to use its own index
    and sorted by the indexed key (UPPER(name) in C order, id), merged by a UNION.

    - name prefix: a range scan of (UPPER(name) COLLATE "C", id) in order, stopping at 26 rows;
    - nodeId key prefix: the node_key index, its matches sorted (fenced by OFFSET 0 so the planner
      cannot walk the name index instead, which is what makes the current query slow);
    - deviceId: the unique index.
    """
    from devices.identifiers import node_search_key

    cols = "d.*, " + SORT_KEY + " AS sort_name"
    live = "d.deleted_on_platform_at IS NULL"
    limit = PAGE_SIZE + 1
    query = query.strip()

    def after_clause(expr: str, id_column: str) -> tuple[str, list[Any]]:
        if after is None:
            return "", []
        return f' AND ({expr}, {id_column}) > (%s COLLATE "C", %s)', list(after)

    if not query:
        where, params = after_clause(SORT_KEY, "d.id")
        sql = f"SELECT {cols} FROM devices_device d WHERE {live}{where}"
        return sql + f" ORDER BY {SORT_KEY}, d.id LIMIT {limit}", params
    branches = [f"(SELECT {cols} FROM devices_device d WHERE {live} AND d.device_id = %s)"]
    params = [query]
    where, after_params = after_clause(SORT_KEY, "d.id")
    branches.append(
        f"(SELECT {cols} FROM devices_device d WHERE {live} AND {SORT_KEY} LIKE %s{where}"
        f" ORDER BY {SORT_KEY}, d.id LIMIT {limit})"
    )
    params += [like_prefix(query.upper()), *after_params]
    key = node_search_key(query)
    if key:
        inner = f"SELECT {cols} FROM devices_device d WHERE {live} AND d.node_key LIKE %s OFFSET 0"
        where, after_params = after_clause("n.sort_name", "n.id")
        branches.append(
            f"(SELECT * FROM ({inner}) n WHERE true{where}"
            f" ORDER BY n.sort_name, n.id LIMIT {limit})"
        )
        params += [like_prefix(key), *after_params]
    sql = f"SELECT * FROM ({' UNION '.join(branches)}) m ORDER BY m.sort_name, m.id LIMIT {limit}"
    return sql, params


def measure_proposed(runs: int, count: int) -> None:
    from django.db import connection
    from django.db.backends.postgresql.operations import (
        DatabaseOperations as PostgresOperations,
    )

    print()
    print(f"--try-fix: {FIX_INDEX}; the proposed query (raw SQL, same shapes, 26 rows fetched)")
    with connection.cursor() as cursor:
        cursor.execute(FIX_INDEX)
        cursor.execute("ANALYZE devices_device")
    first_pages: dict[str, tuple[str, int] | None] = {}
    for shape in shapes(count):
        after = first_pages.get(shape.after_of) if shape.after_of is not None else None
        sql, params = proposed_sql(shape.query, after)

        def call(sql: str = sql, params: list[Any] = params) -> list[Any]:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()

        found = call()
        if shape.after_of is None:
            last = found[PAGE_SIZE - 1] if len(found) > PAGE_SIZE else None
            first_pages[shape.query] = (last[-1], last[0]) if last else None
        timings = time_calls(call, runs)
        assert isinstance(connection.ops, PostgresOperations)
        plan = explain(connection.ops.compose_sql(sql, params), "postgresql")
        print(
            f"{shape.label:<44} {min(len(found), PAGE_SIZE):>4} rows  median "
            f"{statistics.median(timings):7.2f} ms  p95 {p95(timings):7.2f} ms  | "
            f"{plan_summary(plan)}",
            flush=True,
        )


# --- databases ---------------------------------------------------------------------------------


def _admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise SystemExit(f"--database-url: use a plain database name, not {name!r}")
    return urlunsplit(parts._replace(path="/postgres")), name


@contextlib.contextmanager
def scratch_postgres(url: str, *, reuse: bool, keep: bool) -> Iterator[bool]:
    """Yields whether the database is new (to be loaded); drops it afterwards unless keep."""
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = bool(
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        )
        if exists and not reuse:
            raise SystemExit(f"database {name} exists: --reuse it, or drop it first")
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield not exists
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(database_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["IOTADMIN_VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "iotadmin.settings"
    os.environ["DJANGO_DEBUG"] = "false"  # no query log growing over thousands of calls
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def populate(count: int, vendor: str) -> None:
    from django.core.management import call_command

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated in {time.perf_counter() - began:.1f} s; loading {count:,} devices ...")
    began = time.perf_counter()
    (load_postgres if vendor == "postgresql" else load_sqlite)(count)
    print(f"loaded and analysed in {time.perf_counter() - began:.1f} s")


def database_facts(vendor: str) -> str:
    from django.db import connection

    from devices.models import Device

    total = Device.objects.count()
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0].split(" on ")[0]
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('devices_device'))")
            size = cursor.fetchone()[0]
        return f"{version}; devices_device {total:,} rows, {size} with indexes"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}; devices_device {total:,} rows"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite in a temporary folder")
    parser.add_argument("--rows", type=int, default=None, help="1,000,000 (SQLite: 200,000)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--reuse", action="store_true", help="use an existing loaded database")
    parser.add_argument(
        "--try-fix",
        action="store_true",
        help="PostgreSQL: also add the proposed index and time the proposed query",
    )
    args = parser.parse_args()
    count = args.rows or (200_000 if args.sqlite else 1_000_000)
    if count < 1000 or args.runs < 1:
        parser.error("--rows at least 1000, --runs at least 1")
    scratch = tempfile.mkdtemp(prefix="iotadmin-search-")
    try:
        if args.sqlite:
            setup_django(f"sqlite:///{scratch}/search.sqlite3", scratch)
            populate(count, "sqlite")
            print(database_facts("sqlite"))
            measure(args.runs, count)
        else:
            with scratch_postgres(args.database_url, reuse=args.reuse, keep=args.keep) as new:
                setup_django(args.database_url, scratch)
                if new:
                    populate(count, "postgresql")
                print(database_facts("postgresql"))
                measure(args.runs, count)
                if args.try_fix:
                    measure_proposed(args.runs, count)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
