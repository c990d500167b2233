"""Small accessibility fixes: the messages list keeps its list semantics inside a status
region, the focus ring and the error pages' big code have enough contrast, and short
durations keep a decimal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.fallback import FallbackStorage
from django.template.loader import render_to_string
from django.test import RequestFactory

from devices.templatetags.devices_ui import duration_fine
from tests.factories import UserFactory

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _variable(name: str) -> str:
    return re.search(rf"{name}:\s*(#[0-9a-fA-F]{{6}})", CSS).group(1)


def test_the_focus_ring_on_the_light_page_is_at_least_3_to_1():
    rule = re.search(r"a:focus-visible, button:focus-visible[^{]*\{([^}]*)\}", CSS).group(1)
    ring = re.search(r"outline:\s*3px solid (#[0-9a-fA-F]{6})", rule).group(1)
    for background in (_variable("--bg"), _variable("--card")):
        assert contrast(ring, background) >= 3.0


def test_the_error_pages_big_code_is_at_least_4_5_to_1():
    rule = re.search(r"\.error-code \{([^}]*)\}", CSS).group(1)
    colour = re.search(r"color:\s*var\((--[a-z-]+)\)", rule).group(1)
    assert contrast(_variable(colour), _variable("--bg")) >= 4.5


@pytest.mark.django_db
def test_the_messages_list_sits_inside_a_status_region_and_keeps_its_list_role():
    request = RequestFactory().get("/")
    request.user = UserFactory(field_service=True)
    request.session = {}
    storage = FallbackStorage(request)
    storage.add(constants.INFO, "Refreshed from the platform just now.")
    request._messages = storage
    html = render_to_string("base.html", {"messages": storage}, request=request)
    region = html.split('<div class="messages-region" role="status">')[1].split("</div>")[0]
    assert '<ul class="messages">' in region
    assert "Refreshed from the platform just now." in region
    assert '<ul class="messages" role="status">' not in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.87, "0.9 s"), (0, "0.0 s"), (9.94, "9.9 s"), (12.4, "12 s"), (72, "1 min 12 s")],
)
def test_short_durations_keep_one_decimal(seconds, text):
    assert duration_fine(seconds) == text


def test_no_duration_is_empty():
    assert duration_fine(None) == ""
