"""Waiting that explains itself: retry n of N with the next try, who can approve a waiting
swap, their e-mail, and the live approvals badge in the nav."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices.approvals import approval_pending_count, swap_approver_names
from devices.models import Swap, SwapState
from devices.services.approvals import swap_notify_approvers
from oceanconnect.catalogue import SERVER_ERROR_HANDLING, handling_text
from tests.devices.approval_support import request_swap
from tests.factories import CUSTOM_CODE, SwapFactory, UserFactory


def swap_url(swap):
    return reverse("devices:swap_detail", args=[swap.pk])


@pytest.mark.django_db
class TestRetrying:
    def test_the_panel_says_attempt_n_of_n_the_next_try_and_when_it_gives_up(
        self, client, settings
    ):
        settings.SWAP_MAX_ATTEMPTS = 8
        settings.IOTADMIN_TIME_ZONE_DISPLAY = "UTC"
        user = UserFactory(field_service=True)
        swap = SwapFactory(queued=True, requested_by=user)
        next_at = timezone.now() + timedelta(seconds=40)
        Swap.objects.filter(pk=swap.pk).update(
            attempts=2,
            error_code="50252",
            error_text=handling_text("50252"),
            next_attempt_at=next_at,
        )
        client.force_login(user)
        page = client.get(swap_url(swap)).content.decode()
        assert "Retrying — attempt 3 of 8" in page
        assert "Attempt 2 did not get through" in page
        assert "tries again by itself, next at" in page
        assert f"{next_at:%H:%M:%S} UTC" in page
        assert "gives up after attempt 8 and marks the swap failed" in page

    def test_platform_maintenance_is_no_longer_the_only_advice_for_a_retryable_error(self):
        for text in (handling_text("50252"), SERVER_ERROR_HANDLING):
            assert "tries again by itself" in text
            assert "only if every attempt fails" in text


@pytest.mark.django_db
class TestWaitingForApproval:
    def test_the_panel_names_who_can_approve_but_not_the_requester(self, client, settings):
        settings.EMAIL_HOST = ""
        requester = UserFactory(helpdesk=True, username="aa-requester")
        UserFactory(supervisor=True, first_name="Sam", last_name="Super")
        UserFactory(helpdesk=True, username="hd-holly")
        UserFactory(field_service=True, first_name="Fred", last_name="Field")
        UserFactory(helpdesk=True, is_active=False, first_name="Ina", last_name="Gone")
        swap = SwapFactory(pending_approval=True, requested_by=requester)
        client.force_login(requester)
        page = client.get(swap_url(swap)).content.decode()
        approvers = page.split('id="approvers"')[1].split("</p>")[0]
        assert "Sam Super" in approvers
        assert "hd-holly" in approvers
        assert "or any other helpdesk/supervisor user" in approvers
        assert "aa-requester" not in approvers
        assert "Fred Field" not in approvers
        assert "Ina Gone" not in approvers
        assert "e-mail" not in approvers  # no mail server: nobody was mailed

    def test_at_most_five_names(self):
        requester = UserFactory(field_service=True)
        for n in range(7):
            UserFactory(helpdesk=True, username=f"helper-{n}")
        swap = SwapFactory(pending_approval=True, requested_by=requester)
        assert swap_approver_names(swap=swap) == [f"helper-{n}" for n in range(5)]

    def test_the_panel_says_they_were_mailed_when_mail_is_configured(self, client, settings):
        settings.EMAIL_HOST = "smtp.example.org"
        requester = UserFactory(field_service=True)
        swap = SwapFactory(pending_approval=True, requested_by=requester)
        client.force_login(requester)
        page = client.get(swap_url(swap)).content.decode()
        assert "They were told by e-mail" in page


@pytest.mark.django_db
class TestApproverMail:
    def test_a_swap_held_for_approval_mails_the_approvers_after_commit_without_the_code(
        self, only_code_mode_rule, live_device, settings, django_capture_on_commit_callbacks
    ):
        settings.EMAIL_HOST = "smtp.example.org"
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        requester = UserFactory(helpdesk=True, email="req@example.org")
        UserFactory(supervisor=True, email="sup@example.org")
        UserFactory(helpdesk=True, email="")  # no address: skipped
        UserFactory(field_service=True, email="field@example.org")  # may not approve
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            swap = request_swap(
                live_device, requester, mode="custom", custom_verify_code=CUSTOM_CODE
            )
        assert swap.state == SwapState.PENDING_APPROVAL
        assert mail.outbox == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["sup@example.org"]
        assert f"Swap #{swap.pk}" in message.subject
        assert reverse("devices:approval_queue") in message.body
        assert CUSTOM_CODE not in message.body + message.subject

    def test_no_mail_without_a_mail_server(self, settings):
        settings.EMAIL_HOST = ""
        UserFactory(supervisor=True, email="sup@example.org")
        swap = SwapFactory(pending_approval=True)
        assert swap_notify_approvers(swap_id=swap.pk) == 0
        assert mail.outbox == []

    def test_a_swap_no_longer_waiting_is_not_mailed(self, settings):
        settings.EMAIL_HOST = "smtp.example.org"
        UserFactory(supervisor=True, email="sup@example.org")
        swap = SwapFactory(queued=True)
        assert swap_notify_approvers(swap_id=swap.pk) == 0
        assert mail.outbox == []

    def test_a_mail_server_outage_does_not_raise(self, settings):
        settings.EMAIL_HOST = "smtp.example.org"
        settings.EMAIL_BACKEND = "tests.devices.test_waiting_explained.BrokenBackend"
        UserFactory(supervisor=True, email="sup@example.org")
        swap = SwapFactory(pending_approval=True)
        assert swap_notify_approvers(swap_id=swap.pk) == 0


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("mail server down")


@pytest.mark.django_db
class TestApprovalsBadge:
    def test_the_badge_counts_waiting_swaps_in_one_query(self, client):
        SwapFactory(pending_approval=True)
        SwapFactory(pending_approval=True)
        SwapFactory(queued=True)
        client.force_login(UserFactory(helpdesk=True))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("devices:approval_badge"))
        assert response.status_code == 200
        assert 'data-count="2"' in response.content.decode()
        counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
        assert len(counts) == 1
        assert approval_pending_count() == 2

    def test_nothing_waiting_shows_no_badge(self, client):
        client.force_login(UserFactory(supervisor=True))
        response = client.get(reverse("devices:approval_badge"))
        assert response.content.decode().strip() == ""

    def test_users_who_cannot_approve_get_no_badge(self, client):
        client.force_login(UserFactory(field_service=True))
        assert client.get(reverse("devices:approval_badge")).status_code == 403
        page = client.get(reverse("devices:device_list")).content.decode()
        assert "approvals-badge" not in page

    def test_the_nav_polls_the_badge_every_15_seconds_for_approvers(self, client):
        client.force_login(UserFactory(helpdesk=True))
        page = client.get(reverse("devices:device_list")).content.decode()
        badge = page.split('id="approvals-badge"')[1].split(">")[0]
        assert reverse("devices:approval_badge") in badge
        assert 'hx-trigger="load, every 15s"' in badge


@pytest.mark.django_db
def test_without_a_mail_server_nothing_waits_for_the_commit(
    only_code_mode_rule, live_device, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_HOST = ""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        request_swap(
            live_device,
            UserFactory(helpdesk=True),
            mode="custom",
            custom_verify_code=CUSTOM_CODE,
        )
    assert callbacks == []
