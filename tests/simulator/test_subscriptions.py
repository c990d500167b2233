"""Subscriptions as the platform keeps them: one per notifyType and app (a second one is
409 / 100227), listed in pages, read, deleted one by one or in a batch."""

import pytest

from tests.simulator.helpers import SUBSCRIPTIONS, Client, error_code, subscribe

URL = "http://127.0.0.1:8000/platform/push/secret/"
OTHER_URL = "http://127.0.0.1:9000/platform/push/other/"


@pytest.fixture
def client(sim):
    return Client(sim)


def test_a_second_subscription_of_a_type_is_409_100227_whatever_the_url(client):
    subscribe(client, "bindDevice", URL)
    for url in (URL, OTHER_URL):
        again = client.call(
            "POST", SUBSCRIPTIONS, json={"notifyType": "bindDevice", "callbackUrl": url}
        )
        assert again.status_code == 409
        assert error_code(again) == "100227"


def test_the_conflict_is_per_app(sim, client):
    subscribe(client, "bindDevice", URL)
    partner = Client(sim, app_id=sim.second_app_id, secret=sim.second_app_secret)
    subscribe(partner, "bindDevice", URL)


def test_list_is_paged_and_filtered_by_notify_type(sim, client):
    types = ("bindDevice", "deviceAdded", "deviceInfoChanged", "deviceDeleted")
    created = [subscribe(client, t, URL) for t in types]
    partner = Client(sim, app_id=sim.second_app_id, secret=sim.second_app_secret)
    subscribe(partner, "deviceAdded", OTHER_URL)  # not ours: never listed

    first = client.call("GET", SUBSCRIPTIONS, params={"pageNo": 0, "pageSize": 3}).json()
    second = client.call("GET", SUBSCRIPTIONS, params={"pageNo": 1, "pageSize": 3}).json()
    assert (first["totalCount"], first["pageNo"], first["pageSize"]) == (4, 0, 3)
    assert len(first["subscriptions"]) == 3 and len(second["subscriptions"]) == 1
    assert first["subscriptions"] + second["subscriptions"] == created
    only = client.call("GET", SUBSCRIPTIONS, params={"notifyType": "deviceAdded"}).json()
    assert only["totalCount"] == 1
    assert only["subscriptions"] == [created[1]]
    bad = client.call("GET", SUBSCRIPTIONS, params={"pageSize": 0})
    assert (bad.status_code, error_code(bad)) == (400, "50400")


def test_one_subscription_and_delete_by_id(sim, client):
    sub = subscribe(client, "bindDevice", URL)
    path = f"{SUBSCRIPTIONS}/{sub['subscriptionId']}"
    assert client.call("GET", path).json() == sub
    partner = Client(sim, app_id=sim.second_app_id, secret=sim.second_app_secret)
    assert partner.call("GET", path).status_code == 404  # another app's subscription
    deleted = client.call("DELETE", path)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.call("GET", path).status_code == 404
    assert client.call("DELETE", path).status_code == 404
    subscribe(client, "bindDevice", OTHER_URL)  # the type is free again


def test_batch_delete_by_notify_type_and_callback_url(client):
    subscribe(client, "bindDevice", URL)
    subscribe(client, "deviceAdded", URL)
    subscribe(client, "deviceDeleted", OTHER_URL)

    gone = client.call("DELETE", SUBSCRIPTIONS, params={"notifyType": "bindDevice"})
    assert gone.status_code == 204
    left = client.call("GET", SUBSCRIPTIONS).json()["subscriptions"]
    assert {s["notifyType"] for s in left} == {"deviceAdded", "deviceDeleted"}

    assert client.call("DELETE", SUBSCRIPTIONS, params={"callbackUrl": URL}).status_code == 204
    left = client.call("GET", SUBSCRIPTIONS).json()["subscriptions"]
    assert [(s["notifyType"], s["callbackUrl"]) for s in left] == [("deviceDeleted", OTHER_URL)]
