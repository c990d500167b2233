"""Issue 10, problem 8 on a 390x844 phone: a session lost while the code page polls (its cookie
deleted, or the session ended on the server for idling) sends the whole browser to the login
page, not a login page inside the code panel, and signing in leads back to the same swap."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.cached_db import SessionStore
from django.utils import timezone

from iotadmin.sessions import LAST_SEEN_KEY
from tests.browser.conftest import PASSWORD
from tests.factories import SwapFactory
from tests.support.browser import log_in, phone_shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def delete_the_cookie(page: Any) -> None:
    page.context.clear_cookies(name=django_settings.SESSION_COOKIE_NAME)


def idle_past_the_limit(page: Any) -> None:
    """The server ends the session at the next request: its last activity is made older than
    SESSION_IDLE_TIMEOUT_MINUTES (through cached_db, which writes the database and the cache:
    right whichever of the two engines the live server was started with)."""
    key = next(
        cookie["value"]
        for cookie in page.context.cookies()
        if cookie["name"] == django_settings.SESSION_COOKIE_NAME
    )
    session = SessionStore(session_key=key)
    assert session.get("_auth_user_id")  # the signed-in session, not a new empty one
    idle = timedelta(minutes=django_settings.SESSION_IDLE_TIMEOUT_MINUTES, seconds=1)
    session[LAST_SEEN_KEY] = (timezone.now() - idle).timestamp()
    session.save()


@pytest.mark.parametrize("lose_the_session", [delete_the_cookie, idle_past_the_limit])
def test_a_session_lost_mid_poll_goes_to_the_login_page_and_back_to_the_swap(
    phone: Any, live_server: Any, role_users: dict[str, Any], lose_the_session: Any, settings: Any
) -> None:
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    settings.SESSION_IDLE_TIMEOUT_SUPERVISOR_MINUTES = 0
    swap = SwapFactory(
        issued=True,
        requested_by=role_users["field_service"],
        verify_code="BACKAGAIN7",
        code_issued_at=timezone.now(),
        code_expires_at=timezone.now() + timedelta(minutes=30),
    )
    swap_path = f"/swaps/{swap.pk}/"
    log_in(phone, live_server.url, "field_service", PASSWORD)
    phone.goto(f"{live_server.url}{swap_path}")
    phone.locator("#verify-code").wait_for()
    assert phone.locator("#code-panel[hx-trigger]").count() == 1  # the panel polls

    lose_the_session(phone)
    # The next poll finds no session: the browser itself goes to the login page.
    login_url = f"{live_server.url}/login/?next={quote(swap_path, safe='')}"
    phone.wait_for_url(re.compile(rf"^{re.escape(login_url)}$"))
    assert phone.locator("#code-panel").count() == 0
    assert phone.locator("form").filter(has=phone.get_by_label("Password")).count() == 1
    assert "BACKAGAIN7" not in phone.content()
    phone_shot(phone, "8-lost-session-login")

    phone.get_by_label("Username").fill("field_service")
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_url(f"{live_server.url}{swap_path}")
    assert phone.locator("#verify-code").inner_text().strip() == "BACKAGAIN7"
    phone_shot(phone, "8-lost-session-back-to-the-swap")
