"""Fixtures: a real browser (Debian's Chromium driven by Playwright) and screenshot helpers.

pytest-playwright is not used: `browser` launches /usr/bin/chromium itself, `page` gives each
test a fresh context, and `screenshot(page, name)` keeps desktop and phone shots under
artifacts/screenshots/ for CI (not committed). `phone_shot(page, name)` writes the first
390x844 screen to artifacts/screenshots/phone/ (committed) only when UPDATE_SCREENSHOTS=1.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.environment import chromium_path, require

# Playwright's sync API runs an event loop in this thread; Django's async-safety check would
# then refuse ORM calls made by the test itself.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE_SCREENS_DIR = ARTIFACTS_DIR / "phone"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else chromium_path()
    require(path is not None, "Debian's Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        require(False, "playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_page(browser: Any, *, viewport: dict[str, int], **options: Any) -> Iterator[Any]:
    """A page in a fresh context (en-GB unless `options` say otherwise); on leaving, the context
    closes and any Content-Security-Policy refusal Chromium reported fails the test."""
    context = browser.new_context(viewport=viewport, **{"locale": "en-GB", **options})
    context.set_default_timeout(15_000)
    page = context.new_page()
    # Chromium enforces the Content-Security-Policy and reports each refusal on the console.
    violations: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    with open_page(browser, viewport=DESKTOP) as page:
        yield page


@pytest.fixture
def phone(browser: object) -> Iterator[object]:
    """A page on a 390x844 phone (the size of the usability test in issue 10)."""
    with open_page(browser, viewport=PHONE, is_mobile=True, has_touch=True) as page:
        yield page


def phone_shot(page: Any, name: str, *, top: Any = None) -> Path | None:
    """With UPDATE_SCREENSHOTS=1 (`make screenshots`), save what a 390x844 phone shows (the
    viewport, not the whole page, to keep the files small) as
    artifacts/screenshots/phone/<name>.png, the committed picture of one of issue 10's fixed
    screens; scrolled so that the locator `top` starts the screen if given."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return None
    if top is not None:
        top.evaluate("element => element.scrollIntoView({block: 'start'})")
    PHONE_SCREENS_DIR.mkdir(parents=True, exist_ok=True)
    target = PHONE_SCREENS_DIR / f"{name}.png"
    page.screenshot(path=str(target), animations="disabled", caret="hide")
    return target


def screenshot(page: object, name: str) -> list[Path]:
    """Save the current page at desktop and phone widths; returns the files written."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or DESKTOP  # type: ignore[attr-defined]
    written = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)  # type: ignore[attr-defined]
        target = ARTIFACTS_DIR / f"{name}-{label}.png"
        page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
        written.append(target)
    page.set_viewport_size(original)  # type: ignore[attr-defined]
    return written


def log_in(page: object, live_server_url: str, username: str, password: str) -> None:
    page.goto(f"{live_server_url}/login/")  # type: ignore[attr-defined]
    page.get_by_label("Username").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{live_server_url}/")  # type: ignore[attr-defined]
