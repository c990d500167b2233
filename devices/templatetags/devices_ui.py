"""Small presentation helpers for the device and swap pages."""

import html
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django import forms, template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import dateformat, formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import TIME_STRINGS, timesince
from django.utils.translation import get_language

register = template.Library()

_STATE_TONES = {
    "pending_approval": "wait",
    "waiting_offline": "wait",
    "queued": "wait",
    "sending": "wait",
    "code_issued": "active",
    "bound": "good",
    "expired": "bad",
    "failed": "bad",
    "cancelled": "muted",
    "rejected": "bad",
}
_STATUS_TONES = {
    "ONLINE": "good",
    "OFFLINE": "muted",
    "ABNORMAL": "warn",
    "INACTIVE": "wait",
    "UNKNOWN": "muted",
}


@register.filter
def duration(value: timedelta | int | float | None) -> str:
    """A span of time in plain words: "45 s", "1 min 12 s", "2 h 5 min", "3 d 4 h"."""
    if value is None or value == "":
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    seconds = max(seconds, 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def duration_fine(value: timedelta | int | float | None) -> str:
    """Like duration, with one decimal under 10 s ("0.9 s", not "0 s")."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if 0 <= seconds < 10:
        return f"{seconds:.1f} s"
    return duration(value)


@register.simple_tag
def elapsed(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return duration(end - start)


@register.filter
def swap_tone(state: str) -> str:
    return _STATE_TONES.get(str(state), "muted")


@register.filter
def status_tone(status: str) -> str:
    return _STATUS_TONES.get(str(status), "muted")


@register.simple_tag
def remaining(expires_at: datetime | None, now: datetime | None) -> str:
    """Time left as the countdown shows it (mm:ss, or h:mm:ss past an hour)."""
    if expires_at is None or now is None:
        return ""
    seconds = max(int((expires_at - now).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


@register.simple_tag
def user_roles(user: Any) -> list[str]:
    """The header's roles: the user's group names, without a query when permissions are cached."""
    from devices.permission_cache import user_group_names

    return user_group_names(user)


@register.simple_tag(takes_context=True)
def nav_current(context: template.Context, url: str) -> str:
    """aria-current for the top navigation link of the section being shown."""
    request = context.get("request")
    path = getattr(request, "path", "")
    if url and (path == url or (url != "/" and path.startswith(url))):
        return mark_safe('aria-current="page"')
    return ""


_UNIT_TEXTS: dict[tuple[str | None, str, int], str] = {}


class _UnitText:
    """One of timesince's unit texts ("%(num)d hours"), translated once per language and number:
    the lazy translation it does otherwise costs more than the rest of a search row."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __mod__(self, mapping: dict[str, int]) -> str:
        key = (get_language(), self.name, mapping["num"])
        text = _UNIT_TEXTS.get(key)
        if text is None:
            text = _UNIT_TEXTS[key] = str(TIME_STRINGS[self.name] % mapping)
        return text


_TIME_STRINGS = {name: _UnitText(name) for name in TIME_STRINGS}


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now", "5 minutes ago", "3 hours, 2 minutes ago"."""
    if not value:
        return ""
    return _ago(value, now=timezone.now())


def _ago(value: datetime, *, now: datetime) -> str:
    if (now - value).total_seconds() < 60:
        return "just now"
    # _UnitText does what timesince asks of its strings (`% {"num": n}`).
    return f"{timesince(value, now=now, time_strings=_TIME_STRINGS)} ago"  # type: ignore[arg-type]


@register.simple_tag
def time_ago(value: datetime) -> SafeString:
    """`<time datetime="{{ v|date:'c' }}" title="{{ v }}">{{ v|ago }}</time>` in one node: the
    same text, for a row repeated on every search page (a third of its rendering otherwise)."""
    return _time_ago(
        value,
        zone=timezone.get_current_timezone(),
        now=timezone.now(),
        datetime_format=formats.get_format("DATETIME_FORMAT"),
    )


def _time_ago(value: datetime, *, zone: Any, now: datetime, datetime_format: str) -> SafeString:
    """time_ago with the zone, the clock and the format looked up once by the caller (what
    formats.localize does for a datetime, without its per-value lookups)."""
    local = timezone.localtime(value, zone)
    return mark_safe(  # noqa: S308 - each part escaped, as format_html does
        f'<time datetime="{_escape(local.isoformat())}"'
        f' title="{_escape(dateformat.format(local, datetime_format))}">'
        f"{_escape(_ago(value, now=now))}</time>"
    )


_SENTINEL_PK = 987654321987
_ROW_URLS: dict[tuple[str, str, str | None], tuple[str, str] | None] = {}


@register.simple_tag
def row_url(viewname: str, pk: int) -> str:
    """`{% url viewname pk %}` for a row in a loop: reversed once per view name (and script
    prefix and URLconf), then the primary key is put in; the same URL `{% url %}` gives."""
    parts = _row_url_parts(viewname)
    if parts is None or not isinstance(pk, int):
        return reverse(viewname, args=[pk])
    return f"{parts[0]}{pk}{parts[1]}"


def _row_url_parts(viewname: str) -> tuple[str, str] | None:
    key = (viewname, get_script_prefix(), get_urlconf())
    if key not in _ROW_URLS:
        url = reverse(viewname, args=[_SENTINEL_PK])
        head, found, tail = url.partition(str(_SENTINEL_PK))
        _ROW_URLS[key] = (head, tail) if found and str(_SENTINEL_PK) not in tail else None
    return _ROW_URLS[key]


def _display_zone() -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.conf import settings

    name = getattr(settings, "IOTADMIN_TIME_ZONE_DISPLAY", "") or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


@register.filter
def zoned_time(value: datetime | None) -> str:
    """A moment as "17:34:35 CET" in IOTADMIN_TIME_ZONE_DISPLAY, the zone named."""
    if value is None:
        return ""
    local = timezone.localtime(value, _display_zone())
    return f"{local:%H:%M:%S} {local.tzname() or ''}".strip()


@register.filter
def error_fields(form: forms.BaseForm) -> list[dict[str, str]]:
    """The fields of `form` with an error, in form order, for an error summary: the id to link
    to (a radio group's first option), the label and the first message."""
    found = []
    for bound in form:
        if not bound.errors:
            continue
        anchor = bound.auto_id or ""
        if anchor and isinstance(bound.field.widget, forms.RadioSelect):
            anchor = f"{anchor}_0"
        found.append({"id": anchor, "label": str(bound.label), "error": str(bound.errors[0])})
    return found


@register.simple_tag
def radio_tag(radio: Any) -> SafeString:
    """`{{ radio.tag }}` of a radio button (or checkbox) option: the `<input>` Django's
    input.html and attrs.html templates write, in Python. Each one through the form renderer's
    template engine cost about 0.1 ms, and the swap form shows ten
    (tests/devices/test_radio_tag.py pins the two against each other)."""
    widget = radio.data
    parts = [f'<input type="{_escape(widget["type"])}" name="{_escape(widget["name"])}"']
    if widget["value"] is not None:
        parts.append(f' value="{_escape(widget["value"])}"')
    for name, value in widget["attrs"].items():
        if value is not False:
            parts.append(
                f" {_escape(name)}" if value is True else f' {_escape(name)}="{_escape(value)}"'
            )
    parts.append(">")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


def _escape(value: Any) -> str:
    """conditional_escape without its lazy-string wrapper (the same text for a str)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


_STATUS_LABELS: dict[tuple[str | None, str], str] = {}


def _status_label(status: str, language: str | None) -> str:
    """device.get_status_display(), remembered per language (Django rebuilds the choices'
    dict on every call)."""
    key = (language, status)
    label = _STATUS_LABELS.get(key)
    if label is None:
        from devices.models import DeviceStatus

        label = _STATUS_LABELS[key] = str(dict(DeviceStatus.choices).get(status, status))
    return label


@register.simple_tag
def device_rows(devices: Iterable[Any]) -> SafeString:
    """The search page's rows, as the loop in device_list.html's `device-rows` partial wrote
    them (same HTML, same escaping), in plain Python: 25 rows through the template engine were
    most of the page's CPU (tests/devices/test_device_rows.py pins the two against each other).
    What every row looks up (language, zone, clock, date format, URL) is looked up once.
    """
    language = get_language()
    zone = timezone.get_current_timezone()
    now = timezone.now()
    datetime_format = formats.get_format("DATETIME_FORMAT")
    url_parts = _row_url_parts("devices:device_detail")
    parts = []
    for device in devices:
        pk = device.pk
        if url_parts is None or not isinstance(pk, int):
            url = reverse("devices:device_detail", args=[pk])
        else:
            url = f"{url_parts[0]}{pk}{url_parts[1]}"
        deleted = (
            '<span class="badge tone-bad">Deleted on platform</span>'
            if device.deleted_on_platform_at
            else ""
        )
        updated = device.platform_updated_at
        contact = (
            _time_ago(updated, zone=zone, now=now, datetime_format=datetime_format)
            if updated
            else "unknown"
        )
        model = f"· {_escape(device.model)}" if device.model else ""
        location = f"· {_escape(device.location)}" if device.location else ""
        parts.append(
            '\n  <li class="device-item">\n'
            f'    <a class="device-link" href="{url}">\n'
            f'      <span class="device-name">{_escape(device.name or device.device_id)}</span>\n'
            f'      <span class="badge tone-{status_tone(device.status)}">'
            f"{_escape(_status_label(device.status, language))}</span>\n"
            f'      <span class="device-node mono">{_escape(device.node_id)}</span>\n'
            '      <span class="device-meta">\n'
            f"        {deleted}\n"
            f"        Last contact {contact}\n"
            f"        {model}\n"
            f"        {location}\n"
            "      </span>\n"
            "    </a>\n"
            "  </li>\n"
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
