"""Benchmark: the technician's common loop on a phone, from "Sign in" to the code on screen.

    .venv/bin/python benchmarks/common_loop.py [--samples 10] [--warmup 1]
        [--database-url postgres://postgres@127.0.0.1:5432/iotadmin_bench_loop]
        [--broker-url redis://127.0.0.1:6379/9] [--env NAME=VALUE ...]
        [--pool threads|prefork|solo] [--json FILE]

The same machinery as benchmarks/swap_latency.py (simulator over HTTP, scratch database,
`migrate`, `sync_devices`, a Celery worker, `runserver`, Debian's Chromium), but each sample is
the whole loop in a fresh browser context at 390x844 (a phone), signed out at the start:

    sign-in   click "Sign in" -> the device search has loaded
    search    type the old unit's IMEI (as on its label) -> its one result is shown (htmx)
    open      click the result -> the device page has loaded
    type      type the new unit's IMEI (kind, chipset, code mode and validity left as they are)
    request   click the request button -> the code is visible (POST, worker, platform, panel)
    total     click "Sign in" -> the code is visible

Playwright types instantly: a person's reading and typing time is not in these numbers, only
what the system makes them wait for. Every sample also counts the interactions after signing
in (trusted clicks and fields typed into, recorded in the page) and fails if they are not the
four steps above. All processes started here are stopped, and the temporary folder removed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from swap_latency import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    USERNAME,
    Processes,
    app_environment,
    new_imei,
    percentile,
    print_log_tails,
    run_in_scratch,
    start_app,
)

from tests.support.simulator import start_simulator  # noqa: E402

PHONE = {"width": 390, "height": 844}
CODE_TIMEOUT_MS = 30_000
STARTUP_TIMEOUT = 240.0
STEPS = ("sign-in", "search", "open", "type", "request")

# The same counter as tests/browser/test_common_loop.py: trusted clicks and fields typed into.
INTERACTION_COUNTER = """
(() => {
  const key = "commonLoopInteractions";
  const read = () => JSON.parse(sessionStorage.getItem(key) || '{"clicks": [], "fields": []}');
  const write = (value) => sessionStorage.setItem(key, JSON.stringify(value));
  document.addEventListener("click", (event) => {
    if (!event.isTrusted) return;
    const value = read(); value.clicks.push(event.target.tagName); write(value);
  }, true);
  document.addEventListener("input", (event) => {
    if (!event.isTrusted) return;
    const value = read(); const name = event.target.name || event.target.id;
    if (!value.fields.includes(name)) value.fields.push(name);
    write(value);
  }, true);
})();
"""


@dataclass
class Loop:
    device_id: str
    parts: dict[str, float] = field(default_factory=dict)
    interactions: int = 0

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def one_loop(browser: Any, base: str, device_pk: int, device_id: str, imei: str) -> Loop:
    from devices.models import Device

    old_imei = Device.objects.get(pk=device_pk).node_id.removeprefix("urn:imei:")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    context.add_init_script(INTERACTION_COUNTER)
    page = context.new_page()
    loop = Loop(device_id)
    try:
        page.goto(f"{base}/login/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        started = time.monotonic()
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/")
        page.wait_for_load_state("load")
        marks = [started, time.monotonic()]
        page.evaluate("() => sessionStorage.removeItem('commonLoopInteractions')")

        marks.append(time.monotonic())  # the search clock starts here (the reset is not timed)
        page.locator("input[name=q]").fill(old_imei)
        page.locator("#device-results", has_text=f"“{old_imei}”").wait_for()
        result = page.locator("#device-results .device-link")
        result.first.wait_for()
        if result.count() != 1:
            raise RuntimeError(f"{old_imei}: {result.count()} results, not one")
        marks.append(time.monotonic())
        result.first.click()
        page.wait_for_url(f"{base}/devices/{device_pk}/")
        page.wait_for_load_state("load")
        marks.append(time.monotonic())
        page.locator("input[name=new_identifier]").fill(imei)
        marks.append(time.monotonic())
        page.locator("#swap-form button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/swaps/\d+/$"), timeout=CODE_TIMEOUT_MS)
        page.locator("#verify-code").wait_for(state="visible", timeout=CODE_TIMEOUT_MS)
        marks.append(time.monotonic())

        counted = page.evaluate(
            "() => JSON.parse(sessionStorage.getItem('commonLoopInteractions'))"
        )
        loop.interactions = len(counted["clicks"]) + len(counted["fields"])
        if counted["fields"] != ["q", "new_identifier"] or len(counted["clicks"]) != 2:
            raise RuntimeError(f"the loop took other interactions than the four: {counted}")
        # sign-in is marks[0..1]; marks[1..2] is the counter reset (not timed).
        loop.parts = {
            "sign-in": marks[1] - marks[0],
            "search": marks[3] - marks[2],
            "open": marks[4] - marks[3],
            "type": marks[5] - marks[4],
            "request": marks[6] - marks[5],
        }
        return loop
    finally:
        context.close()


def summarise(name: str, values: list[float]) -> str:
    return (
        f"{name:<8} median {statistics.median(values):6.3f}  p90 {percentile(values, 0.9):6.3f}"
        f"  min {min(values):6.3f}  max {max(values):6.3f}"
    )


def measure(args: argparse.Namespace, scratch: Path, database_url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    var_dir = scratch / "var"
    processes = Processes(scratch)
    with start_simulator("--quiet", http=True) as sim:
        env = app_environment(args, sim, var_dir, database_url)
        try:
            # A shared, busy machine can take minutes to start a prefork worker.
            devices, base = start_app(
                args,
                sim,
                env,
                processes,
                name="bench-loop",
                database_url=database_url,
                startup_timeout=STARTUP_TIMEOUT,
            )
            print(
                f"web {base} (runserver), worker --pool {args.pool} -c 2, "
                f"database {'SQLite' if database_url.startswith('sqlite') else 'PostgreSQL'}, "
                f"broker {env['CELERY_BROKER_URL']}, phone {PHONE['width']}x{PHONE['height']}",
                flush=True,
            )
            loops: list[Loop] = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    for n, (pk, device_id) in enumerate(devices):
                        loop = one_loop(browser, base, pk, device_id, new_imei(n))
                        if n < args.warmup:
                            print(f"  warm-up: {loop.total:.3f} s", flush=True)
                            continue
                        loops.append(loop)
                        print(
                            f"  sample {len(loops):2d}: {loop.total:.3f} s, "
                            f"{loop.interactions} interactions",
                            flush=True,
                        )
                finally:
                    browser.close()
        except Exception:
            print_log_tails(processes)
            raise
        finally:
            processes.stop_all()
            from django.db import connections

            connections.close_all()
    print()
    totals = [loop.total for loop in loops]
    print(summarise("total", totals) + "   <- click 'Sign in' to code shown (seconds)")
    for step in STEPS:
        print(summarise(step, [loop.parts[step] for loop in loops]))
    print(f"interactions after sign-in: {sorted({loop.interactions for loop in loops})}")
    return {
        "samples": [{"total": loop.total, **loop.parts} for loop in loops],
        "median": statistics.median(totals),
        "p90": percentile(totals, 0.9),
        "min": min(totals),
        "max": max(totals),
        "interactions": sorted({loop.interactions for loop in loops}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="loops before the measured ones")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    parser.add_argument("--broker-url", default="", help="default: filesystem broker (temp)")
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="threads")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="for web and worker"
    )
    parser.add_argument("--json", default="", help="also write the numbers to this file")
    args = parser.parse_args()
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if not os.path.exists(CHROMIUM):
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium)")
    return run_in_scratch(args, name="loop", measure=measure)


if __name__ == "__main__":
    raise SystemExit(main())
