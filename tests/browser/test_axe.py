"""axe-core over every page a person can reach, for every role, at phone and desktop widths.

The vendored axe-core (tests/browser/vendor/axe-core, never a CDN) is evaluated in each page
through Playwright, so the pages keep their strict Content-Security-Policy. Any violation of
impact "serious" or "critical" fails the test with one line per violation: rule, element,
page, role and width. One browser, one page per role, one live server.

Not covered, on purpose: Django's admin (/admin/ is Django's own templates, for staff only;
none of the three roles is staff) and the CSV downloads (not HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from bulk.models import BatchState, BulkBatch, BulkRow, RowState
from bulk.services import bulk_upload
from devices.models import Swap, SwapState
from tests.browser.conftest import PASSWORD
from tests.bulk.helpers import csv_bytes, line
from tests.factories import DeviceFactory, SwapFactory, UserFactory, make_imei
from tests.support.browser import DESKTOP, PHONE, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
FAILING_IMPACTS = ("serious", "critical")
WIDTHS = (("phone", PHONE), ("desktop", DESKTOP))
ROLES = ("field_service", "helpdesk", "supervisor")

# Runs axe in the page; returns only what the report needs (a violation's nodes can be many).
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
  }));
}"""


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    target: str
    summary: str
    page: str
    role: str
    width: str

    def line(self) -> str:
        summary = " ".join(self.summary.split())[:200]
        return (
            f"[{self.impact}] {self.rule} ({self.help}) on {self.page} as {self.role} "
            f"at {self.width}: {self.target} -- {summary}"
        )


def _run_axe(page: Any) -> list[dict[str, Any]]:
    """axe.run(); once more if a poll (htmx every 2 s on a swap page) swapped the DOM under it."""
    from playwright.sync_api import Error

    try:
        return list(page.evaluate(RUN_AXE))
    except Error:
        return list(page.evaluate(RUN_AXE))


def axe_violations(page: Any, *, name: str, role: str) -> list[Violation]:
    """axe-core at both widths on the page as it is now (no reload between widths)."""
    found: list[Violation] = []
    page.wait_for_load_state("load")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    for width_name, size in WIDTHS:
        page.set_viewport_size(size)
        for violation in _run_axe(page):
            if violation["impact"] not in FAILING_IMPACTS:
                continue
            for node in violation["targets"]:
                found.append(
                    Violation(
                        rule=violation["id"],
                        impact=violation["impact"],
                        help=violation["help"],
                        target=node["target"],
                        summary=node["summary"] or "",
                        page=name,
                        role=role,
                        width=f"{width_name} {size['width']}x{size['height']}",
                    )
                )
    return found


@pytest.fixture
def site(role_users: dict[str, Any]) -> dict[str, str]:
    """One of each page: name -> path. Swaps in every state, a colleague's open swap, the
    approvals queue with a waiting swap, a bulk file in preview and one being sent, and a few
    weeks of history for the reports."""
    field = role_users["field_service"]
    helpdesk = role_users["helpdesk"]
    colleague = UserFactory(field_service=True, username="colleague", first_name="Cole")
    plain = DeviceFactory(name="Elm Street 39 water meter", location="Elm Street 39")
    busy = DeviceFactory(name="Pump house 4")
    online = DeviceFactory(name="Gas meter Oak Road 2", status="ONLINE")
    SwapFactory(device=busy, requested_by=colleague, issued=True)
    states = {
        "pending approval": {"pending_approval": True},
        "queued": {"queued": True},
        "sending": {"state": SwapState.SENDING},
        "code issued": {"issued": True},
        "never expiring code": {"issued": True, "timeout_seconds": 0},
        "bound": {"bound": True},
        "expired": {"expired": True},
        "failed": {
            "failed": True,
            "error_code": "100611",
            "error_text": "Take the device offline, then retry.",
        },
        "cancelled": {"cancelled": True},
        "rejected": {"state": SwapState.REJECTED, "finished_at": timezone.now()},
        "waiting for the old unit to go offline": {
            "state": SwapState.WAITING_OFFLINE,
            "offline_wait_until": timezone.now() + timedelta(minutes=30),
        },
    }
    pages = {
        "device search": "/",
        "device search results": "/?q=Elm",
        "device search, nothing found": "/?q=nothing-like-this",
        "device page": f"/devices/{plain.pk}/",
        "device page, a colleague's open swap": f"/devices/{busy.pk}/",
        "device page, the old unit online": f"/devices/{online.pk}/",
    }
    now = timezone.now()
    for n, (state, traits) in enumerate(states.items()):
        swap = SwapFactory(requested_by=field, reason=f"INC-{500 + n}", **traits)
        created = now - timedelta(days=n, hours=1)
        Swap.objects.filter(pk=swap.pk).update(created_at=created)
        pages[f"swap page, {state}"] = f"/swaps/{swap.pk}/"
    rows = [line(d.device_id, make_imei(), ticket=f"INC-{n}") for n, d in enumerate([plain])]
    rows.append(line("no-such-device", make_imei()))
    preview = bulk_upload(actor=helpdesk, filename="preview.csv", data=csv_bytes(*rows))
    sending = bulk_upload(
        actor=helpdesk,
        filename="sending.csv",
        data=csv_bytes(line(DeviceFactory().device_id, make_imei(), ticket="INC-9")),
    )
    BulkBatch.objects.filter(pk=sending.pk).update(
        state=BatchState.CONFIRMED, confirmed_at=timezone.now()
    )
    BulkRow.objects.filter(batch=sending, state=RowState.READY).update(state=RowState.WAITING)
    pages.update(
        {
            "approvals": "/approvals/",
            "bulk upload": "/bulk/",
            "bulk preview": f"/bulk/{preview.pk}/",
            "bulk progress": f"/bulk/{sending.pk}/",
            "history": "/history/",
            "history, refused filter": "/history/?date_from=not-a-date",
            "summary": "/summary/",
            "lineage": f"/devices/{plain.pk}/lineage/",
            "sign-in locks": "/accounts/unlock/",
            "not found (404)": "/devices/999999/",
        }
    )
    return pages


def _anonymous_pages(page: Any, live_server: Any) -> list[Violation]:
    found = []
    page.goto(f"{live_server.url}/login/")
    found += axe_violations(page, name="sign in", role="anonymous")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    page.locator(".alert, .errorlist").first.wait_for()
    found += axe_violations(page, name="sign in, wrong password", role="anonymous")
    page.goto(f"{live_server.url}/no-such-page/")
    found += axe_violations(page, name="not found (404)", role="anonymous")
    return found


def _locked_out_page(page: Any, live_server: Any) -> list[Violation]:
    from django.conf import settings

    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill("locked")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
    page.get_by_role("heading", name="Sign-in locked").wait_for()
    return axe_violations(page, name="sign-in locked out", role="anonymous")


def _form_error_page(page: Any, live_server: Any, path: str) -> list[Violation]:
    """The swap form after a refused identifier: the error summary and the field's error."""
    page.goto(f"{live_server.url}{path}")
    page.locator("input[name=new_identifier]").fill("12345")
    page.locator("input[name=new_identifier]").press("Enter")
    page.locator("[aria-invalid=true]").first.wait_for()
    return axe_violations(page, name="device page, identifier refused", role="field_service")


def test_no_serious_or_critical_axe_violation_on_any_page_for_any_role_at_either_width(
    browser: Any, live_server: Any, site: dict[str, str]
) -> None:
    found: list[Violation] = []
    checked = 0
    for role in ("anonymous", *ROLES):
        context = browser.new_context(viewport=DESKTOP, locale="en-GB")
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            if role == "anonymous":
                found += _anonymous_pages(page, live_server)
                found += _locked_out_page(page, live_server)
                checked += 4
                continue
            log_in(page, live_server.url, role, PASSWORD)
            for name, path in site.items():
                response = page.goto(f"{live_server.url}{path}")
                assert response is not None and response.status < 500, (name, role)
                found += axe_violations(page, name=f"{name} ({response.status})", role=role)
                checked += 1
            if role == "field_service":
                found += _form_error_page(page, live_server, site["device page"])
                checked += 1
        finally:
            context.close()
    assert checked == 4 + len(ROLES) * len(site) + 1
    report = "\n".join(v.line() for v in found)
    assert not found, f"{len(found)} serious or critical axe-core violations:\n{report}"


def test_the_axe_check_reports_a_violation_it_is_shown(browser: Any, live_server: Any) -> None:
    """The check can fail: an image without a text alternative is a critical violation."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.evaluate(
            "() => { const i = document.createElement('img'); i.src = '/static/favicon.svg';"
            " document.querySelector('main').appendChild(i); }"
        )
        found = axe_violations(page, name="sign in with a bare image", role="anonymous")
    finally:
        context.close()
    assert {v.rule for v in found} == {"image-alt"}
    assert {v.width for v in found} == {"phone 390x844", "desktop 1280x800"}
    assert "image-alt" in found[0].line() and "sign in with a bare image" in found[0].line()
