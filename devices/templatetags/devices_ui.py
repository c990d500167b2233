"""Small presentation helpers for the device and swap pages."""

from datetime import datetime, timedelta
from typing import Any

from django import forms, template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
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
    now = timezone.now()
    if (now - value).total_seconds() < 60:
        return "just now"
    # _UnitText does what timesince asks of its strings (`% {"num": n}`).
    return f"{timesince(value, now=now, time_strings=_TIME_STRINGS)} ago"  # type: ignore[arg-type]


@register.simple_tag
def time_ago(value: datetime) -> SafeString:
    """`<time datetime="{{ v|date:'c' }}" title="{{ v }}">{{ v|ago }}</time>` in one node: the
    same text, for a row repeated on every search page (a third of its rendering otherwise)."""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        formats.localize(local),
        ago(value),
    )


_SENTINEL_PK = 987654321987
_ROW_URLS: dict[tuple[str, str, str | None], tuple[str, str] | None] = {}


@register.simple_tag
def row_url(viewname: str, pk: int) -> str:
    """`{% url viewname pk %}` for a row in a loop: reversed once per view name (and script
    prefix and URLconf), then the primary key is put in; the same URL `{% url %}` gives."""
    key = (viewname, get_script_prefix(), get_urlconf())
    if key not in _ROW_URLS:
        url = reverse(viewname, args=[_SENTINEL_PK])
        head, found, tail = url.partition(str(_SENTINEL_PK))
        _ROW_URLS[key] = (head, tail) if found and str(_SENTINEL_PK) not in tail else None
    parts = _ROW_URLS[key]
    if parts is None or not isinstance(pk, int):
        return reverse(viewname, args=[pk])
    return f"{parts[0]}{pk}{parts[1]}"


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
