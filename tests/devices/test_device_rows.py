"""The search page's rows rendered in Python (`device_rows`) are the HTML the template loop
wrote: pinned against that loop, kept here as it was, for inputs that test the escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from devices.models import Device, DeviceStatus
from devices.templatetags.devices_ui import device_rows
from tests.factories import DeviceFactory, UserFactory

# The loop of templates/devices/device_list.html's `device-rows` partial before device_rows,
# with Django's own tags and filters (as it was before row_url and time_ago too).
TEMPLATE_ROWS = (
    "{% load devices_ui %}{% for device in devices %}\n"
    '  <li class="device-item">\n'
    '    <a class="device-link" href="{% url \'devices:device_detail\' device.pk %}">\n'
    '      <span class="device-name">{{ device.name|default:device.device_id }}</span>\n'
    '      <span class="badge tone-{{ device.status|status_tone }}">'
    "{{ device.get_status_display }}</span>\n"
    '      <span class="device-node mono">{{ device.node_id }}</span>\n'
    '      <span class="device-meta">\n'
    "        {% if device.deleted_on_platform_at %}"
    '<span class="badge tone-bad">Deleted on platform</span>{% endif %}\n'
    "        Last contact {% if device.platform_updated_at %}"
    "<time datetime=\"{{ device.platform_updated_at|date:'c' }}\""
    ' title="{{ device.platform_updated_at }}">{{ device.platform_updated_at|ago }}</time>'
    "{% else %}unknown{% endif %}\n"
    "        {% if device.model %}· {{ device.model }}{% endif %}\n"
    "        {% if device.location %}· {{ device.location }}{% endif %}\n"
    "      </span>\n"
    "    </a>\n"
    "  </li>\n"
    "{% endfor %}"
)

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
SCRIPT = '<script>alert("x")</script>'


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both renderings say "3 hours ago" from the same now, in a zone with summer time."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    with timezone.override("Europe/Berlin"):
        yield


def _device(pk: int, **fields: object) -> Device:
    values: dict[str, object] = {
        "device_id": f"dev-{pk}",
        "node_id": f"86{pk:013d}",
        "name": f"Meter {pk}",
        "status": DeviceStatus.OFFLINE,
        "platform_updated_at": NOW - timedelta(hours=3, minutes=2),
    }
    values.update(fields)
    return Device(pk=pk, **values)


TRICKY = [
    _device(1, name=SCRIPT, model="A&B <model>", location="\"quoted\" & 'single'"),
    _device(2, name="", device_id="dev-<b>bold</b>"),  # no name: the deviceId, escaped
    _device(3, name="عداد الغاز \u202eevil\u202c", location="שדרות רוטשילד 1"),  # RTL, override
    _device(4, name="x" * 1000, node_id="urn:imei:" + "9" * 300, model="m" * 500),
    _device(5, platform_updated_at=None, deleted_on_platform_at=NOW - timedelta(days=2)),
    _device(6, status="NOT_A_STATUS", name="&amp; already escaped?", location="\u200b"),
    _device(7, status=DeviceStatus.ONLINE, platform_updated_at=NOW - timedelta(seconds=5)),
    _device(8, name="{{ user }} {% now 'Y' %}", model="\x00\x1f", location="</span></a>"),
    _device(9, platform_updated_at=datetime(2025, 7, 1, 10, 0, 59, tzinfo=UTC)),  # summer time
    _device(10, platform_updated_at=datetime(2026, 3, 13, 23, 0, tzinfo=UTC)),  # "midnight"
    _device(11, platform_updated_at=datetime(2026, 3, 14, 11, 0, tzinfo=UTC)),  # "noon"
]


def _template_rows(devices: list[Device]) -> str:
    return Template(TEMPLATE_ROWS).render(Context({"devices": devices}))


@pytest.mark.parametrize("device", TRICKY, ids=lambda d: f"device-{d.pk}")
def test_each_tricky_row_is_the_templates_html(device):
    assert str(device_rows([device])) == _template_rows([device])


def test_a_page_of_rows_is_the_templates_html():
    assert str(device_rows(TRICKY)) == _template_rows(TRICKY)


def test_no_rows_is_empty():
    assert device_rows([]) == "" == _template_rows([])


def test_html_in_names_is_escaped_not_markup():
    html = str(device_rows(TRICKY))
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "dev-&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&amp;amp; already escaped?" in html
    assert "&lt;/span&gt;&lt;/a&gt;" in html
    assert "&quot;quoted&quot; &amp; &#x27;single&#x27;" in html


@pytest.mark.django_db
def test_the_search_page_shows_the_templates_rows(client):
    user = UserFactory(field_service=True)
    client.force_login(user)
    for number, fields in enumerate(
        [
            {"name": f"gasmeter {SCRIPT}", "location": "שדרות & <b>"},
            {"name": "gasmeter \u202eRTL", "model": "<i>x</i>"},
            {"name": "gasmeter " + "y" * 200, "platform_updated_at": None},
        ]
    ):
        DeviceFactory(node_id=f"35{number:013d}", **fields)
    response = client.get(reverse("devices:device_list"), {"q": "gasmeter"})
    assert response.status_code == 200
    html = response.content.decode()
    page = response.context["page"]
    assert len(page.items) == 3
    assert _template_rows(page.items) in html
    assert SCRIPT not in html
