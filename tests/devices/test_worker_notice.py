"""A swap waiting to be sent while no Celery worker is alive says so (swap page, `rekey --wait`)
instead of "Queued" for ever."""

import io
import re
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from devices.models import Swap, SwapState
from devices.selectors import swap_worker_notice
from iotadmin.heartbeats import WORKER, heartbeat_forget, heartbeat_record
from tests.factories import DeviceFactory, SwapFactory, UserFactory

NO_WORKER = "No worker is running to send this swap"


def queued_since(seconds: float, **fields) -> Swap:
    swap = SwapFactory(queued=True, **fields)
    Swap.objects.filter(pk=swap.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))
    swap.refresh_from_db()
    return swap


@pytest.fixture
def worker_alive():
    heartbeat_record(role=WORKER, hostname="test-worker@host", now=time.time())
    yield
    heartbeat_forget(role=WORKER, hostname="test-worker@host")


@pytest.mark.django_db
def test_a_swap_queued_for_a_while_with_no_worker_says_so_and_what_to_do():
    notice = swap_worker_notice(swap=queued_since(30))
    assert NO_WORKER in notice
    assert "start the Celery worker" in notice


@pytest.mark.django_db
def test_no_notice_while_a_worker_is_alive(worker_alive):
    assert swap_worker_notice(swap=queued_since(30)) == ""


@pytest.mark.django_db
def test_no_notice_in_the_first_seconds_nor_once_the_code_is_issued(django_assert_num_queries):
    fresh = queued_since(0)
    issued = SwapFactory(issued=True)
    with django_assert_num_queries(0):  # no heartbeat read for a swap just queued
        assert swap_worker_notice(swap=fresh) == ""
        assert swap_worker_notice(swap=issued) == ""


@pytest.mark.django_db
def test_the_code_panel_shows_the_notice(client):
    user = UserFactory(field_service=True)
    swap = queued_since(30, requested_by=user)
    client.force_login(user)
    panel = client.get(reverse("devices:swap_detail", args=[swap.pk]), HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    assert NO_WORKER in panel.content.decode()
    assert swap.state == SwapState.QUEUED


@pytest.mark.django_db(transaction=True)
def test_rekey_wait_says_no_worker_is_alive(sim, platform_settings, monkeypatch):
    found = sim.devices(status="OFFLINE", activated=True, owner=sim.app_id, nbiot=False, limit=1)
    device = DeviceFactory.mirror(found[0], our_app_id=sim.app_id)
    monkeypatch.setattr("devices.tasks.swap_send.delay", lambda *args, **kwargs: None)
    monkeypatch.setattr("devices.selectors.NO_WORKER_GRACE_SECONDS", 0)
    err = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(
            "rekey",
            device.device_id,
            "--node-id",
            "353713930199154",
            "--chipset",
            "hisilicon",
            "--wait",
            "--wait-seconds",
            "1",
            stdout=io.StringIO(),
            stderr=err,
        )
    assert NO_WORKER in err.getvalue()
    assert NO_WORKER in str(failed.value)


@pytest.mark.django_db
def test_a_polling_panel_gets_the_notice_when_it_appears_with_nothing_else_changed(
    client, monkeypatch
):
    user = UserFactory(field_service=True)
    swap = queued_since(10, requested_by=user)
    client.force_login(user)
    url = reverse("devices:swap_detail", args=[swap.pk])
    monkeypatch.setattr("devices.selectors.NO_WORKER_GRACE_SECONDS", 60)
    first = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert NO_WORKER not in first
    version = re.search(r"\?v=(\w+)", first).group(1)
    assert client.get(f"{url}?v={version}", HTTP_HX_REQUEST="true").status_code == 204
    monkeypatch.setattr("devices.selectors.NO_WORKER_GRACE_SECONDS", 5)  # the wait grew past it
    later = client.get(f"{url}?v={version}", HTTP_HX_REQUEST="true")
    assert later.status_code == 200
    assert NO_WORKER in later.content.decode()
