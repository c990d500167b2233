"""The approvals queue page, its approve/reject actions, and the requester's swap page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices.approvals import approval_queue
from devices.codes import encrypt_code
from devices.limits import MAX_REASON_LENGTH
from devices.models import Swap, SwapState
from devices.services import swap_approve, swap_reject
from tests.factories import CUSTOM_CODE, SwapFactory, UserFactory


def queue_url():
    return reverse("devices:approval_queue")


@pytest.mark.django_db
class TestQueuePage:
    def test_approvers_see_what_waits_with_device_requester_and_reasons(self, client):
        requester = UserFactory(field_service=True, first_name="Fran", last_name="Field")
        swap = SwapFactory(pending_approval=True, requested_by=requester)
        SwapFactory(queued=True)  # not waiting: not listed
        client.force_login(UserFactory(supervisor=True))
        response = client.get(queue_url())
        assert response.status_code == 200
        page = response.content.decode()
        assert f"Swap #{swap.pk}" in page
        assert page.count('class="approval card"') == 1
        assert swap.device.name in page
        assert "Fran Field" in page
        assert "The verifyCode is a custom one chosen by the requester." in page
        assert "INC-1 replaced after a flood" in page
        assert "Approve and send" in page
        assert CUSTOM_CODE not in page  # approvers never see a code

    def test_the_requesters_own_swap_is_listed_without_buttons(self, client):
        helpdesk = UserFactory(helpdesk=True)
        own = SwapFactory(pending_approval=True, requested_by=helpdesk)
        other = SwapFactory(pending_approval=True)
        client.force_login(helpdesk)
        page = client.get(queue_url()).content.decode()
        own_row = page.split(f'id="approval-{own.pk}"')[1].split('class="approval card"')[0]
        other_row = page.split(f'id="approval-{other.pk}"')[1].split("</ol>")[0]
        assert "You requested this; another person must approve it." in own_row
        assert "swap_approve" not in own_row and "/approve/" not in own_row
        assert "/reject/" not in own_row
        assert f"/approvals/{other.pk}/approve/" in other_row
        assert f"/approvals/{other.pk}/reject/" in other_row

    def test_an_empty_queue_says_so(self, client):
        client.force_login(UserFactory(helpdesk=True))
        assert "Nothing waits for approval." in client.get(queue_url()).content.decode()

    def test_field_service_may_not_open_the_queue(self, client):
        SwapFactory(pending_approval=True)
        client.force_login(UserFactory(field_service=True))
        assert client.get(queue_url()).status_code == 403

    def test_anonymous_users_are_sent_to_sign_in(self, client):
        response = client.get(queue_url())
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_query_count_is_the_same_for_one_and_fifty_rows(self, client):
        client.force_login(UserFactory(supervisor=True))
        SwapFactory(pending_approval=True)
        client.get(queue_url())  # warm the session and content types
        with CaptureQueriesContext(connection) as one:
            assert client.get(queue_url()).content.decode().count('class="approval card"') == 1
        for _ in range(49):
            SwapFactory(pending_approval=True)
        with CaptureQueriesContext(connection) as fifty:
            assert client.get(queue_url()).content.decode().count('class="approval card"') == 50
        assert len(fifty) == len(one)

    def test_the_queue_lists_the_oldest_first_and_says_when_more_wait(self):
        swaps = [SwapFactory(pending_approval=True) for _ in range(3)]
        queue = approval_queue(limit=2)
        assert [s.pk for s in queue.items] == [swaps[0].pk, swaps[1].pk]
        assert queue.more is True


def approve_url(swap):
    return reverse("devices:swap_approve", args=[swap.pk])


def reject_url(swap):
    return reverse("devices:swap_reject", args=[swap.pk])


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.django_db
class TestQueueActions:
    def test_htmx_approve_returns_the_decided_row(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(supervisor=True))
        response = client.post(approve_url(swap), **HTMX)
        assert response.status_code == 200
        row = response.content.decode()
        assert row.lstrip().startswith(f'<li class="approval card" id="approval-{swap.pk}"')
        assert "Approved by you" in row
        assert f"Swap #{swap.pk} approved; it is being sent." in row
        assert "<html" not in row
        assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED

    def test_plain_post_approve_redirects_to_the_queue_with_a_message(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(helpdesk=True))
        response = client.post(approve_url(swap), follow=True)
        assert response.redirect_chain == [(queue_url(), 302)]
        assert f"Swap #{swap.pk} approved" in response.content.decode()
        assert Swap.objects.get(pk=swap.pk).state == SwapState.QUEUED

    def test_htmx_reject_without_a_reason_keeps_the_row_and_says_why(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(helpdesk=True))
        response = client.post(reject_url(swap), {"reason": "  "}, **HTMX)
        assert response.status_code == 200
        row = response.content.decode()
        assert "Say why the swap is rejected" in row
        assert "Approve and send" in row  # still undecided, buttons still there
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_an_overlong_reject_reason_is_refused_with_its_real_length(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(helpdesk=True))
        response = client.post(reject_url(swap), {"reason": "x" * 5000}, **HTMX)
        row = response.content.decode()
        assert f"The reason has at most {MAX_REASON_LENGTH} characters; this one has 5000." in row
        assert f'name="reason" maxlength="{MAX_REASON_LENGTH}"' in row
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_the_reject_form_allows_what_the_service_accepts(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(supervisor=True))
        page = client.get(queue_url()).content.decode()
        assert f'name="reason" maxlength="{MAX_REASON_LENGTH}"' in page
        client.post(reject_url(swap), {"reason": "r" * MAX_REASON_LENGTH})
        assert Swap.objects.get(pk=swap.pk).rejection_reason == "r" * MAX_REASON_LENGTH

    def test_plain_post_reject_ends_the_swap(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(supervisor=True))
        response = client.post(reject_url(swap), {"reason": "Ticket closed"}, follow=True)
        assert response.redirect_chain == [(queue_url(), 302)]
        swap.refresh_from_db()
        assert swap.state == SwapState.REJECTED
        assert swap.rejection_reason == "Ticket closed"

    def test_a_forged_approval_of_ones_own_swap_is_refused(self, client):
        helpdesk = UserFactory(helpdesk=True)
        swap = SwapFactory(pending_approval=True, requested_by=helpdesk)
        client.force_login(helpdesk)
        response = client.post(approve_url(swap), follow=True)
        assert "another person must approve it" in response.content.decode()
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_field_service_posts_are_forbidden_and_change_nothing(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(UserFactory(field_service=True))
        assert client.post(approve_url(swap)).status_code == 403
        assert client.post(reject_url(swap), {"reason": "no"}).status_code == 403
        assert Swap.objects.get(pk=swap.pk).state == SwapState.PENDING_APPROVAL

    def test_unknown_swap_is_404_and_get_is_405(self, client):
        client.force_login(UserFactory(helpdesk=True))
        assert client.post("/approvals/999999/approve/").status_code == 404
        swap = SwapFactory(pending_approval=True)
        assert client.get(approve_url(swap)).status_code == 405


# --- the requester's swap page ---------------------------------------------------------------


@pytest.mark.django_db
class TestRequesterSwapPage:
    def test_pending_swap_shows_who_must_approve_and_why(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(swap.requested_by)
        page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
        assert "Waiting for approval by a helpdesk or supervisor user:" in page
        assert "The verifyCode is a custom one chosen by the requester." in page
        assert 'hx-trigger="every 2s"' in page  # the panel keeps polling
        assert CUSTOM_CODE not in page

    def test_the_polled_panel_flips_to_rejected_with_the_reason(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(swap.requested_by)
        url = reverse("devices:swap_detail", args=[swap.pk])
        first = client.get(url, **HTMX).content.decode()
        version = first.split("?v=")[1].split('"')[0]
        assert client.get(f"{url}?v={version}", **HTMX).status_code == 204  # unchanged
        swap_reject(swap=swap, actor=UserFactory(supervisor=True, first_name="Sue"), reason="Dup")
        flipped = client.get(f"{url}?v={version}", **HTMX)
        assert flipped.status_code == 200
        panel = flipped.content.decode()
        assert "Rejected by Sue" in panel
        assert "Rejected: Dup" in panel
        assert "every 2s" not in panel  # a final state stops the polling

    def test_the_polled_panel_flips_to_queued_once_approved(self, client):
        swap = SwapFactory(pending_approval=True)
        client.force_login(swap.requested_by)
        url = reverse("devices:swap_detail", args=[swap.pk])
        version = client.get(url, **HTMX).content.decode().split("?v=")[1].split('"')[0]
        swap_approve(swap=swap, actor=UserFactory(helpdesk=True))
        panel = client.get(f"{url}?v={version}", **HTMX).content.decode()
        assert "Queued" in panel
        assert "Waiting for approval" not in panel

    def test_a_supervisor_cannot_see_the_code_of_an_approved_swap(self, client):
        code = "APPROVED-CODE-91"
        swap = SwapFactory(pending_approval=True)
        supervisor = UserFactory(supervisor=True)
        swap_approve(swap=swap, actor=supervisor)
        Swap.objects.filter(pk=swap.pk).update(
            state=SwapState.CODE_ISSUED,
            verify_code_encrypted=encrypt_code(code),
            verify_code_hint=code[-2:],
            code_issued_at=timezone.now(),
            code_expires_at=timezone.now() + timedelta(minutes=3),
        )
        client.force_login(supervisor)
        page = client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
        assert "Code issued" in page
        assert code not in page
        assert "Only the requester and the helpdesk see the code." in page
        client.force_login(swap.requested_by)
        assert code in client.get(reverse("devices:swap_detail", args=[swap.pk])).content.decode()
