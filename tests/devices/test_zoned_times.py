"""Times shown in IOTADMIN_TIME_ZONE_DISPLAY with the zone named, and the countdown's polite
announcer (static/js/countdown.js fills it at 60, 30 and 10 s left)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from devices.models import Swap
from devices.templatetags.devices_ui import zoned_time
from tests.factories import SwapFactory, UserFactory


def test_a_winter_time_in_berlin_is_named_cet(settings):
    settings.IOTADMIN_TIME_ZONE_DISPLAY = "Europe/Berlin"
    assert zoned_time(datetime(2026, 1, 15, 16, 34, 35, tzinfo=UTC)) == "17:34:35 CET"


def test_a_summer_time_in_berlin_is_named_cest(settings):
    settings.IOTADMIN_TIME_ZONE_DISPLAY = "Europe/Berlin"
    assert zoned_time(datetime(2026, 7, 15, 15, 34, 35, tzinfo=UTC)) == "17:34:35 CEST"


def test_the_default_is_the_sites_time_zone(settings):
    settings.TIME_ZONE = "UTC"
    settings.IOTADMIN_TIME_ZONE_DISPLAY = ""
    assert zoned_time(datetime(2026, 1, 15, 16, 34, 35, tzinfo=UTC)) == "16:34:35 UTC"


def test_an_unknown_zone_falls_back_to_the_sites(settings):
    settings.TIME_ZONE = "UTC"
    settings.IOTADMIN_TIME_ZONE_DISPLAY = "Mars/Olympus"
    assert zoned_time(datetime(2026, 1, 15, 16, 34, 35, tzinfo=UTC)).endswith(" UTC")


def test_no_time_is_empty():
    assert zoned_time(None) == ""


@pytest.mark.django_db
def test_the_code_panel_names_the_zone_of_the_expiry_and_has_a_polite_announcer(client, settings):
    settings.IOTADMIN_TIME_ZONE_DISPLAY = "Europe/Berlin"
    user = UserFactory(helpdesk=True)
    swap = SwapFactory(issued=True, requested_by=user)
    expires = timezone.now() + timedelta(minutes=3)
    Swap.objects.filter(pk=swap.pk).update(code_expires_at=expires)
    client.force_login(user)
    page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
    local = timezone.localtime(expires, ZoneInfo("Europe/Berlin"))
    assert f"{local:%H:%M:%S} {local.tzname()}" in page
    countdown = page.split('class="countdown"')[1].split("</div>")[0]
    assert 'aria-live="polite" data-countdown-announce' in countdown
    assert 'role="timer" aria-live="off"' in page  # the ticking value itself stays quiet
