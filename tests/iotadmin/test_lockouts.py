"""Sign-in throttling (django-axes): lockout page, refusal while locked, unlock, cool-off."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from iotadmin.lockouts import user_unlock
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
IP = "198.51.100.7"


@pytest.fixture(autouse=True)
def throttle(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def alice():
    user = UserFactory(username="alice", field_service=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client, password, url="/login/"):
    return client.post(url, {"username": "alice", "password": password}, REMOTE_ADDR=IP)


def fail(client, times, url="/login/"):
    return [sign_in(client, "wrong", url) for _ in range(times)][-1]


def test_five_wrong_passwords_lock_with_a_clear_message(client, alice):
    assert fail(client, 4).status_code == 200
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed sign-ins" in text
    assert "Try again in 15 minutes" in text
    [event] = AuditEvent.objects.filter(action=AuditAction.LOGIN_LOCKED)
    assert event.after == {"username": "alice"}
    assert event.ip == IP


def test_the_right_password_is_refused_while_locked(client, alice):
    fail(client, 5)
    response = sign_in(client, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_username_and_address(client, alice):
    fail(client, 5)
    other_address = client.post(
        "/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="203.0.113.1"
    )
    assert other_address.status_code == 302


def test_the_admin_login_is_throttled_too(client, alice):
    fail(client, 5, url="/admin/login/")
    assert sign_in(client, PASSWORD, url="/admin/login/").status_code == 429


def test_a_supervisor_unlocks_and_it_is_audited(client, alice):
    fail(client, 5)
    supervisor = UserFactory(supervisor=True, username="sue")
    helper = client.__class__()
    helper.force_login(supervisor)
    page = helper.get(reverse("user_unlock"))
    assert "Unlock alice" in page.content.decode()
    response = helper.post(reverse("user_unlock"), {"username": "alice"})
    assert response.status_code == 302
    [event] = AuditEvent.objects.filter(action=AuditAction.LOGIN_UNLOCKED)
    assert (event.actor_name, event.after["username"]) == ("sue", "alice")
    assert sign_in(client, PASSWORD).status_code == 302


def test_field_service_may_not_unlock(client, alice):
    fail(client, 5)
    client.force_login(UserFactory(field_service=True))
    assert client.post(reverse("user_unlock"), {"username": "alice"}).status_code == 403
    assert AccessAttempt.objects.filter(username="alice").exists()


def test_user_unlock_refuses_an_actor_without_permission(alice):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        user_unlock(username="alice", actor=UserFactory(field_service=True))


def test_the_lock_ends_after_the_cool_off(client, alice):
    fail(client, 5)
    # The clock moves on: the attempts are dated 16 minutes back (no sleeping).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert sign_in(client, PASSWORD).status_code == 302


def test_authenticate_without_a_request_still_works(alice):
    from django.contrib.auth import authenticate

    assert authenticate(username="alice", password=PASSWORD) == alice
