"""Sign-ins, sign-outs and changes of users, groups and permissions become audit events."""

import pytest
from django.contrib.auth.models import Group, Permission, User

from audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-42"


def events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def everything_recorded() -> str:
    return "\n".join(
        repr([e.actor_name, e.request_id, e.device_id, e.before, e.after, e.detail])
        for e in AuditEvent.objects.all()
    )


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", email="alice@example.com", password=PASSWORD)


def test_signing_in_through_the_login_page_is_recorded(client, alice, settings):
    # The request id is taken from a trusted proxy only (iotadmin/middleware.py).
    settings.TRUSTED_PROXIES = ["198.51.100.4"]
    response = client.post(
        "/login/",
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.4",
        HTTP_X_REQUEST_ID="req-login-1",
    )
    assert response.status_code == 302
    [login] = events(AuditAction.LOGIN)
    assert (login.actor_id, login.actor_name) == (alice.pk, "alice")
    assert (login.ip, login.request_id) == ("198.51.100.4", "req-login-1")
    # The last_login update made at sign-in is not a user change.
    assert [e.detail for e in events(AuditAction.USER_CHANGED)] == ["user 'alice' created"]
    assert PASSWORD not in everything_recorded()


def test_a_failed_sign_in_keeps_the_name_tried_and_never_the_password(client, alice):
    response = client.post(
        "/login/", {"username": "alice", "password": "wrong-" + PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200
    [failed] = events(AuditAction.LOGIN_FAILED)
    assert (failed.actor_id, failed.after, failed.ip) == (None, {"username": "alice"}, "10.1.2.3")
    assert events(AuditAction.LOGIN) == []
    assert PASSWORD not in everything_recorded()
    assert "*****" not in everything_recorded()


def test_signing_out_is_recorded(client, alice):
    client.force_login(alice)
    client.post("/logout/")
    [logout] = events(AuditAction.LOGOUT)
    assert (logout.actor_id, logout.actor_name) == (alice.pk, "alice")


def test_creating_a_user_records_fields_but_not_the_password(alice):
    [created] = events(AuditAction.USER_CHANGED)
    assert created.after == {
        "username": "alice",
        "first_name": "",
        "last_name": "",
        "email": "alice@example.com",
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
        "password_set": True,
    }
    assert alice.password not in everything_recorded()


def test_changing_a_user_records_only_what_changed(alice):
    alice.email = "alice@example.org"
    alice.is_staff = True
    alice.save()
    change = events(AuditAction.USER_CHANGED)[-1]
    assert change.before == {"email": "alice@example.com", "is_staff": False}
    assert change.after == {"email": "alice@example.org", "is_staff": True}


def test_a_password_change_is_recorded_as_a_flag(alice):
    old_hash = alice.password
    alice.set_password("Another-Pass-77")
    alice.save()
    change = events(AuditAction.USER_CHANGED)[-1]
    assert (change.before, change.after) == ({}, {"password_changed": True})
    for secret in (old_hash, alice.password, "Another-Pass-77"):
        assert secret not in everything_recorded()


def test_saving_an_unchanged_user_records_nothing(alice):
    alice.save()
    assert len(events(AuditAction.USER_CHANGED)) == 1


def test_deleting_a_user_is_recorded(alice):
    alice.delete()
    deleted = events(AuditAction.USER_CHANGED)[-1]
    assert deleted.detail == "user 'alice' deleted"
    assert deleted.before["username"] == "alice"


def test_group_membership_changes_are_recorded_from_either_side(alice):
    supervisors = Group.objects.create(name="supervisors")
    operators = Group.objects.create(name="operators")
    alice.groups.add(supervisors)
    operators.user_set.add(alice)
    alice.groups.clear()
    changes = [(e.before, e.after) for e in events(AuditAction.GROUP_CHANGED)]
    assert changes == [
        ({}, {"name": "supervisors"}),
        ({}, {"name": "operators"}),
        ({"user": "alice", "groups": []}, {"user": "alice", "groups": ["supervisors"]}),
        ({"group": "operators", "members": []}, {"group": "operators", "members": ["alice"]}),
        (
            {"user": "alice", "groups": ["operators", "supervisors"]},
            {"user": "alice", "groups": []},
        ),
    ]


def test_permission_changes_of_users_and_groups_are_recorded(alice):
    group = Group.objects.create(name="supervisors")
    view_user = Permission.objects.get(codename="view_user")
    change_user = Permission.objects.get(codename="change_user")
    alice.user_permissions.add(view_user)
    group.permissions.set([view_user, change_user])
    group.permissions.remove(change_user)
    changes = [(e.before, e.after) for e in events(AuditAction.PERMISSION_CHANGED)]
    assert changes == [
        (
            {"user": "alice", "permissions": []},
            {"user": "alice", "permissions": ["auth.view_user"]},
        ),
        (
            {"group": "supervisors", "permissions": []},
            {"group": "supervisors", "permissions": ["auth.change_user", "auth.view_user"]},
        ),
        (
            {"group": "supervisors", "permissions": ["auth.change_user", "auth.view_user"]},
            {"group": "supervisors", "permissions": ["auth.view_user"]},
        ),
    ]


def test_renaming_and_deleting_a_group_is_recorded():
    group = Group.objects.create(name="night shift")
    group.name = "night operators"
    group.save()
    group.delete()
    changes = [(e.before, e.after) for e in events(AuditAction.GROUP_CHANGED)]
    assert changes == [
        ({}, {"name": "night shift"}),
        ({"name": "night shift"}, {"name": "night operators"}),
        ({"name": "night operators"}, {}),
    ]


def test_changes_made_in_the_admin_name_the_admin_who_made_them(admin_client, admin_user):
    view_user = Permission.objects.get(codename="view_user")
    response = admin_client.post(
        "/admin/auth/group/add/",
        {"name": "auditors", "permissions": [view_user.pk]},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302
    [created] = [e for e in events(AuditAction.GROUP_CHANGED) if e.after == {"name": "auditors"}]
    [granted] = events(AuditAction.PERMISSION_CHANGED)
    for event in (created, granted):
        assert (event.actor_id, event.actor_name, event.ip) == (
            admin_user.pk,
            admin_user.username,
            "203.0.113.9",
        )
        assert event.request_id
    assert granted.after == {"group": "auditors", "permissions": ["auth.view_user"]}
