"""The client against the simulator on the rules the real platform enforces: one subscription
per notify type (409 / 100227), paged subscription lists, the device list sorted newest first
unless `sort=ASC` is sent, and a refused refresh token (401 / 100208) replaced by a login."""

import time

import pytest

from oceanconnect import CATALOGUE, AccessToken, PlatformPermanentError, Subscription
from tests.oceanconnect.test_client_simulator import platform_calls

URL = "http://127.0.0.1:8000/platform/push/s3cret/"
OTHER_URL = "http://127.0.0.1:9000/platform/push/other/"
TYPES = ("bindDevice", "deviceInfoChanged", "deviceAdded", "deviceDeleted")


def test_a_second_subscription_of_a_type_is_a_permanent_error_100227(sim, client):
    client.subscribe("bindDevice", URL)
    with pytest.raises(PlatformPermanentError) as caught:
        client.subscribe("bindDevice", OTHER_URL)
    assert (caught.value.code, caught.value.http_status) == ("100227", 409)
    assert caught.value.handling_text == CATALOGUE["100227"].handling
    assert "subscribe_notifications" in caught.value.handling_text


def test_list_subscriptions_walks_every_page(sim, client):
    created = [client.subscribe(t, URL) for t in TYPES]

    listed = client.list_subscriptions(page_size=3)

    assert listed == created
    assert all(isinstance(s, Subscription) for s in listed)
    queries = [c["query"] for c in platform_calls(sim, "/sub/") if c["method"] == "GET"]
    assert queries == [{"pageNo": "0", "pageSize": "3"}, {"pageNo": "1", "pageSize": "3"}]
    only = client.list_subscriptions(notify_type="deviceAdded")
    assert [(s.notify_type, s.callback_url) for s in only] == [("deviceAdded", URL)]
    assert client.get_subscription(created[0].subscription_id) == created[0]


def test_delete_one_subscription_and_in_a_batch(sim, client):
    first = client.subscribe("bindDevice", URL)
    client.subscribe("deviceAdded", URL)
    client.subscribe("deviceDeleted", OTHER_URL)

    client.delete_subscription(first.subscription_id)
    assert {s.notify_type for s in client.list_subscriptions()} == {"deviceAdded", "deviceDeleted"}
    client.delete_subscriptions(notify_type=None, callback_url=URL)
    assert [s.notify_type for s in client.list_subscriptions()] == ["deviceDeleted"]
    client.delete_subscriptions(notify_type="deviceDeleted")
    assert client.list_subscriptions() == []
    with pytest.raises(ValueError):
        client.delete_subscriptions(notify_type=None)  # would delete every subscription
    client.subscribe("bindDevice", OTHER_URL)  # the type is free again


def test_the_platform_lists_newest_first_unless_asc_is_sent(sim, client):
    pages = list(client.iter_device_pages(page_size=250))
    ascending = [d.create_time for p in pages for d in p.devices]
    assert ascending == sorted(ascending)
    newest_first = client._call(  # the raw list without sort, as the platform defaults
        _list_request(), max_wait=None
    )["devices"]
    times = [d["createTime"] for d in newest_first]
    assert times == sorted(times, reverse=True)


def _list_request():
    from oceanconnect.client import DEVICES_PATH, _Request

    return _Request(
        method="GET",
        template=DEVICES_PATH,
        path=DEVICES_PATH,
        params={"pageNo": 0, "pageSize": 250},
    )


def test_a_refused_refresh_token_100208_falls_back_to_a_login(sim, client):
    # A cached token near its expiry whose refresh token the platform does not know.
    near_expiry = AccessToken("stale-access", "unknown-refresh", time.time() + 30, 3600.0)
    client.tokens._store_token(near_expiry)

    client.get_device(sim.devices(owner=sim.app_id, limit=1)[0]["deviceId"])

    auth = [
        (c["path"].rsplit("/", 1)[-1], c["status"], c["code"]) for c in platform_calls(sim, "/sec/")
    ]
    assert auth == [("refreshToken", 401, "100208"), ("login", 200, None)]
    assert client.tokens.cached().access_token != "stale-access"
