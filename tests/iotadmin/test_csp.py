"""A strict Content-Security-Policy on every page, and templates that need nothing inline."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import DeviceFactory, SwapFactory, UserFactory

pytestmark = pytest.mark.django_db

TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates"] + [
    path
    for app in ("devices", "reports", "bulk", "audit")
    if (path := Path(settings.BASE_DIR) / app / "templates").is_dir()
]
REQUIRED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: (value[0] if value else "") for name, *value in parts}


def templates() -> list[Path]:
    return sorted(p for d in TEMPLATE_DIRS for p in d.rglob("*.html"))


def assert_strict(response) -> None:
    policy = directives(response["Content-Security-Policy"])
    for name, value in REQUIRED.items():
        assert policy.get(name) == value, (name, policy.get(name))
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_anonymous_pages_carry_the_policy(client):
    assert_strict(client.get("/login/"))
    assert_strict(client.get("/admin/login/"))
    assert_strict(client.get("/no-such-page/"))


@pytest.mark.parametrize("role", ["field_service", "helpdesk", "supervisor"])
def test_signed_in_pages_carry_the_policy(client, role):
    user = UserFactory(**{role: True})
    device = DeviceFactory()
    swap = SwapFactory(device=device, requested_by=user)
    client.force_login(user)
    urls = [
        reverse("devices:device_list"),
        reverse("devices:device_detail", args=[device.pk]),
        reverse("devices:swap_detail", args=[swap.pk]),
        reverse("devices:approval_queue"),
        reverse("reports:swap_history"),
        reverse("reports:swap_summary"),
        reverse("bulk:upload"),
        reverse("user_unlock"),
    ]
    for url in urls:
        assert_strict(client.get(url))


def test_no_template_holds_inline_script_style_or_event_handlers():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    problems = []
    for path in templates():
        text = path.read_text(encoding="utf-8")
        for pattern, what in (
            (inline_script, "inline <script>"),
            (re.compile(r"<style\b", re.IGNORECASE), "<style> block"),
            (re.compile(r"\sstyle\s*=", re.IGNORECASE), "style= attribute"),
            (re.compile(r"\son[a-z]+\s*=", re.IGNORECASE), "on…= event handler"),
            (re.compile(r"\bhx-on", re.IGNORECASE), "hx-on (needs eval)"),
            (re.compile(r"javascript:", re.IGNORECASE), "javascript: URL"),
        ):
            if pattern.search(text):
                problems.append(f"{path.relative_to(settings.BASE_DIR)}: {what}")
    assert templates()
    assert problems == []


def test_htmx_injects_no_indicator_style():
    base = (Path(settings.BASE_DIR) / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base
