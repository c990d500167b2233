"""devices/permission_cache.py: a user's permissions cached between requests, and forgotten as
soon as the user's groups or a group's permissions change."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devices.permissions import Perm
from devices.roles import FIELD_SERVICE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _permission_cache(settings):
    settings.PERMISSION_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


def _search(client):
    return client.get(reverse("devices:device_list"))


def _permission_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert _search(client).status_code == 200
    return sum("auth_permission" in q["sql"] for q in captured.captured_queries)


def test_a_second_request_reads_the_permissions_from_the_cache(client):
    client.force_login(UserFactory(role="field_service", password=None))
    assert _permission_queries(client) == 2
    assert _permission_queries(client) == 0


def test_a_user_removed_from_a_group_loses_access_on_the_next_request(client):
    user = UserFactory(role="field_service", password=None)
    client.force_login(user)
    assert _search(client).status_code == 200
    user.groups.remove(Group.objects.get(name=FIELD_SERVICE))
    assert _search(client).status_code == 403


def test_a_permission_taken_from_the_group_is_lost_on_the_next_request(client):
    client.force_login(UserFactory(role="field_service", password=None))
    assert _search(client).status_code == 200
    app_label, codename = Perm.SEARCH_DEVICES.split(".")
    Group.objects.get(name=FIELD_SERVICE).permissions.remove(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    assert _search(client).status_code == 403


def test_a_user_added_to_a_group_gains_access_on_the_next_request(client):
    user = UserFactory(password=None)
    client.force_login(user)
    assert _search(client).status_code == 403
    user.groups.add(Group.objects.get(name=FIELD_SERVICE))
    assert _search(client).status_code == 200


def test_a_deleted_group_takes_its_permissions_with_it(client):
    client.force_login(UserFactory(role="field_service", password=None))
    assert _search(client).status_code == 200
    Group.objects.get(name=FIELD_SERVICE).delete()
    assert _search(client).status_code == 403


def test_a_deactivated_user_has_no_permissions_whatever_the_cache(client):
    user = UserFactory(role="field_service", password=None)
    client.force_login(user)
    assert _search(client).status_code == 200
    assert user.has_perm(Perm.SEARCH_DEVICES)
    user.is_active = False
    user.save()
    fresh = type(user).objects.get(pk=user.pk)
    assert not fresh.has_perm(Perm.SEARCH_DEVICES)


def _group_name_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = _search(client)
    assert response.status_code == 200
    found = sum(
        '"auth_group"' in q["sql"] and "auth_permission" not in q["sql"]
        for q in captured.captured_queries
    )
    return found, response.content.decode()


def test_the_headers_roles_come_from_the_cache_after_the_first_request(client):
    client.force_login(UserFactory(role="field_service", password=None))
    assert _group_name_queries(client)[0] == 1
    queries, html = _group_name_queries(client)
    assert queries == 0
    assert f'<span class="who-role">{FIELD_SERVICE}</span>' in html


def test_a_renamed_group_shows_its_new_name_on_the_next_request(client):
    client.force_login(UserFactory(role="field_service", password=None))
    _search(client)
    group = Group.objects.get(name=FIELD_SERVICE)
    group.name = "Field <team> & co"
    group.save()
    html = _group_name_queries(client)[1]
    assert '<span class="who-role">Field &lt;team&gt; &amp; co</span>' in html


def test_without_the_cache_the_header_reads_the_roles_each_time(client, settings):
    settings.PERMISSION_CACHE_SECONDS = 0
    client.force_login(UserFactory(role="field_service", password=None))
    for _ in range(2):
        queries, html = _group_name_queries(client)
        assert queries == 1
        assert f'<span class="who-role">{FIELD_SERVICE}</span>' in html
