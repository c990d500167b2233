"""Issue 10's small list, checked in a real browser at 390x844 (a phone): the section nav shows
every section, the summary's labels, numbers, colours, axis, tables and scroll region, the
error pages' big code, the focus ring, the messages region and the bulk preview's validity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from bulk.services import bulk_upload
from devices.models import Swap
from tests.browser.conftest import PASSWORD
from tests.bulk.helpers import csv_bytes, line
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei
from tests.support.browser import PHONE, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# WCAG relative luminance and contrast of two CSS rgb()/rgba() colours, computed in the page.
CONTRAST_JS = """([a, b]) => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => {
    const [r, g, b] = c.map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}"""


@pytest.fixture
def phone_page(page: Any) -> Any:
    page.set_viewport_size(PHONE)
    return page


@pytest.fixture
def month_of_swaps(role_users: dict[str, Any]) -> dict[str, Any]:
    """Swaps in every final state over the last days; the bound ones took 0.87 s."""
    ann = UserFactory(field_service=True, username="ann")
    now = timezone.now() - timedelta(hours=1)
    for n in range(3):
        swap = SwapFactory(requested_by=ann, bound=True)
        Swap.objects.filter(pk=swap.pk).update(
            created_at=now - timedelta(days=n), bound_at=now - timedelta(days=n, seconds=-0.87)
        )
    for traits in ({"failed": True}, {"expired": True}, {"expired": True}, {"cancelled": True}):
        swap = SwapFactory(requested_by=ann, **traits)
        Swap.objects.filter(pk=swap.pk).update(created_at=now - timedelta(days=2))
    SwapFactory(requested_by=ann, pending_approval=True)
    return {"ann": ann}


def _contrast(page: Any, a: str, b: str) -> float:
    return float(page.evaluate(CONTRAST_JS, [a, b]))


def _background(page: Any, selector: str) -> str:
    """The first non-transparent background colour at or above the element."""
    return str(
        page.locator(selector).first.evaluate(
            """e => { for (; e; e = e.parentElement) {
                const c = getComputedStyle(e).backgroundColor;
                if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') return c;
              } return 'rgb(255, 255, 255)'; }"""
        )
    )


def test_every_section_of_the_supervisors_nav_is_in_view_on_a_phone(
    phone_page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    page = phone_page
    log_in(page, live_server.url, "supervisor", PASSWORD)
    nav = page.get_by_role("navigation", name="Sections")
    links = nav.get_by_role("link")
    names = [links.nth(i).inner_text().strip() for i in range(links.count())]
    assert [n.rstrip("0123456789 ") for n in names] == [
        "Devices",
        "History",
        "Summary",
        "Approvals",
        "Sign-in locks",
    ]
    # Nothing scrolls out of view: the nav is as wide as its content, each link inside the screen.
    assert nav.evaluate("n => n.scrollWidth <= n.clientWidth")
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], names[i]
    approvals = nav.get_by_role("link", name="Approvals")
    assert approvals.evaluate("a => a.scrollWidth <= a.clientWidth")  # the word is not cut
    screenshot(page, "a11y-section-nav")


def test_the_summary_reads_whole_on_a_phone(
    phone_page: Any, live_server: Any, month_of_swaps: Any
) -> None:
    page = phone_page
    log_in(page, live_server.url, "supervisor", PASSWORD)
    page.goto(f"{live_server.url}/summary/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]

    # "Waiting for approval" (the longest outcome label) starts inside the chart.
    labels = page.locator("#chart-outcomes text.chart-label")
    texts = [labels.nth(i).text_content() for i in range(labels.count())]
    assert "Waiting for approval" in texts
    for i in range(labels.count()):
        assert labels.nth(i).evaluate("t => t.getBBox().x") >= 0, texts[i]

    # A 0.87 s median (and 90th percentile) is not "0 s".
    assert page.locator("#kpi-median").inner_text() == "0.9 s"
    assert page.locator("#kpi-p90").inner_text() == "0.9 s"

    # Failed and expired: different fills, and expired hatched (not colour alone), in both charts.
    for chart in ("#chart-outcomes", "#chart-per-day"):
        failed = page.locator(f"{chart} rect.fill-bad").first
        expired = page.locator(f"{chart} rect.fill-expired").first
        failed_fill = failed.evaluate("r => getComputedStyle(r).fill")
        expired_fill = expired.evaluate("r => getComputedStyle(r).fill")
        assert failed_fill != expired_fill
        assert "pattern-expired" in expired_fill and "url(" not in failed_fill
    legend = page.locator(".legend").inner_text()
    assert "failed" in legend and "expired (hatched)" in legend
    assert "failed or expired" not in legend

    # The day chart starts on the latest days with an axis in view, and a keyboard can scroll it.
    scroller = page.locator(".chart-scroll")
    view = scroller.bounding_box()
    axis = page.locator("#chart-per-day text.chart-axis")
    visible = [
        axis.nth(i).text_content()
        for i in range(axis.count())
        if view["x"] <= axis.nth(i).bounding_box()["x"]
        and axis.nth(i).bounding_box()["x"] + axis.nth(i).bounding_box()["width"]
        <= view["x"] + view["width"]
    ]
    assert visible and visible[0] == "0"
    assert scroller.get_attribute("role") == "region"
    assert scroller.get_attribute("tabindex") == "0"
    assert "Swaps per day" in scroller.get_attribute("aria-label")
    assert scroller.evaluate("s => s.scrollWidth > s.clientWidth")  # it does scroll on a phone
    page.locator(".report-filters .btn-quiet").focus()  # "Last 30 days", just before the charts
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('chart-scroll')")
    before = scroller.evaluate("s => s.scrollLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "b => document.querySelector('.chart-scroll').scrollLeft !== b", arg=before
    )

    # No table hides a column: each fits its box (the day table opens under "The numbers").
    page.locator(".chart-data summary").click()
    tables = page.locator(".table-scroll")
    assert tables.count() >= 2
    for i in range(tables.count()):
        assert tables.nth(i).evaluate("t => t.scrollWidth <= t.clientWidth"), i
    headers = page.locator(".day-table thead th")
    assert [headers.nth(i).inner_text().lower() for i in range(headers.count())] == [
        "day",
        "bound",
        "failed",
        "expired",
        "other",
        "total",
    ]
    cells = page.locator(".technicians-table tbody tr").first.locator("td")
    shown = [
        cells.nth(i).evaluate("c => getComputedStyle(c, '::before').content + c.innerText")
        for i in range(cells.count())
    ]  # on a phone each cell carries its column's name
    assert shown == ['"Failed: "1', '"Expired: "2', '"Of swaps: "8', '"Failure rate: "38%']
    screenshot(page, "a11y-summary")


@pytest.mark.parametrize(("path", "code"), [("/devices/999999/", "404"), ("/history/", "403")])
def test_the_error_pages_big_code_has_text_contrast_on_a_phone(
    phone_page: Any, live_server: Any, role_users: dict[str, Any], path: str, code: str
) -> None:
    page = phone_page
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}{path}")
    big = page.locator(".error-code")
    assert big.inner_text() == code
    colour = big.evaluate("e => getComputedStyle(e).color")
    assert _contrast(page, colour, _background(page, ".error-code")) >= 4.5
    screenshot(page, f"a11y-error-{code}")


def test_the_focus_ring_stands_out_from_the_light_page_on_a_phone(
    phone_page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    """WCAG 1.4.11: the keyboard focus ring is at least 3:1 against what is around it."""
    page = phone_page
    log_in(page, live_server.url, "supervisor", PASSWORD)
    page.goto(f"{live_server.url}/history/")
    checked = 0
    for selector in (".report-tabs a", "#main input", "#main button", "#main summary"):
        target = page.locator(selector).first
        if not target.count():
            continue
        target.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")  # focus by keyboard, so :focus-visible applies
        style = target.evaluate(
            "e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineColor,"
            " getComputedStyle(e).outlineWidth]"
        )
        assert style[0] != "none" and float(style[2].rstrip("px")) >= 2, selector
        assert _contrast(page, style[1], _background(page, "main")) >= 3, (selector, style)
        checked += 1
    assert checked >= 3

    # On the dark section bar the ring is amber, and it stays inside the bar.
    nav = page.get_by_role("navigation", name="Sections")
    link = nav.get_by_role("link", name="History")
    link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    ring = link.evaluate(
        """a => { const s = getComputedStyle(a), r = a.getBoundingClientRect();
          const out = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth);
          return {colour: s.outlineColor, style: s.outlineStyle,
                  top: r.top - out, bottom: r.bottom + out}; }"""
    )
    bar = nav.bounding_box()
    assert ring["style"] != "none"
    assert bar["y"] <= ring["top"] and ring["bottom"] <= bar["y"] + bar["height"]
    bar_colour = nav.evaluate("n => getComputedStyle(n).backgroundColor")
    assert _contrast(page, ring["colour"], bar_colour) >= 3


def test_the_messages_region_keeps_its_list_on_a_phone(
    phone_page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    page = phone_page
    busy = DeviceFactory(name="Pump house 4")
    colleague = UserFactory(field_service=True, username="colleague")
    SwapFactory(device=busy, requested_by=colleague, issued=True)
    log_in(page, live_server.url, "field_service", PASSWORD)
    page.goto(f"{live_server.url}/devices/{busy.pk}/")
    page.get_by_role("button", name="Ask the helpdesk").click()
    region = page.locator(".messages-region[role=status]")
    region.wait_for()
    assert region.get_by_role("list").count() == 1
    assert "Helpdesk asked" in region.get_by_role("listitem").first.inner_text()
    assert page.locator("ul.messages[role]").count() == 0


def test_the_bulk_preview_says_how_long_codes_last_on_a_phone(
    phone_page: Any, live_server: Any, role_users: dict[str, Any]
) -> None:
    page = phone_page
    devices = [DeviceFactory() for _ in range(2)]
    data = csv_bytes(
        line(devices[0].device_id, make_imei()) + ",",
        line(devices[1].device_id, make_imei()) + ",30",
        header="device,new_node_id,kind,chipset,verify_code_mode,ticket,validity_minutes",
    )
    batch = bulk_upload(actor=role_users["helpdesk"], filename="phone.csv", data=data)
    log_in(page, live_server.url, "helpdesk", PASSWORD)
    page.goto(f"{live_server.url}/bulk/{batch.pk}/")
    hint = page.locator("#validity-hint")
    assert hint.is_visible()
    assert "Each code stays valid for 3 minutes" in hint.inner_text()
    cells = page.locator("#bulk-rows td.validity")
    shown = [cells.nth(i).inner_text() for i in range(cells.count())]
    assert shown == ["3 min (default)", "30 min"]
    box = hint.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "a11y-bulk-preview")
