"""The device side (POST /simulator/bind) and the pushes it causes."""

import time

import pytest

from tests.simulator.helpers import Client, callback_server, one, subscribe, wait_until
from tests.support.simulator import start_simulator

# The keys real pushes carry in deviceInfo beyond platform-api.md's examples.
REAL_DEVICE_INFO_EXTRAS = {
    "bridgeId": None,
    "supportedSecurity": "NO",
    "isSecurity": "FALSE",
    "sigVersion": None,
    "isHD": False,
}


@pytest.fixture
def client(sim):
    return Client(sim)


@pytest.fixture
def callback(client):
    with callback_server() as server:
        for notify_type in ("bindDevice", "deviceInfoChanged", "deviceAdded", "deviceDeleted"):
            subscribe(client, notify_type, server.url)
        yield server


def _refresh(client, device, **body):
    answer = client.refresh_key(device["deviceId"], body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_bind_with_the_code_brings_the_device_online_and_pushes_succeeded(sim, client, callback):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=False)
    code = _refresh(client, device, nodeId="862177041314827")["verifyCode"]
    answer = sim.bind("862177041314827", code.lower())  # case-insensitive
    assert answer == {"deviceId": device["deviceId"], "bound": True}
    after = sim.device(device["deviceId"])
    assert (after["nodeId"], after["status"], after["statusDetail"], after["activated"]) == (
        "862177041314827",
        "ONLINE",
        "NONE",
        True,
    )
    assert after["binding"] is None
    bound = wait_until(lambda: callback.bodies("bindDevice"))
    assert bound == [
        {
            "notifyType": "bindDevice",
            "deviceId": device["deviceId"],
            "resultCode": "succeeded",
            "networkStatus": "ONLINE",
            "deviceInfo": {**after["deviceInfo"], **REAL_DEVICE_INFO_EXTRAS},
        }
    ]
    changed = wait_until(lambda: callback.bodies("deviceInfoChanged"))
    assert changed[0]["deviceInfo"]["nodeId"] == "862177041314827"
    assert changed[0]["deviceInfo"]["status"] == "ONLINE"
    assert changed[0]["deviceInfo"]["name"] is None  # unchanged → explicit null
    assert all(code not in str(p) for p in sim.pushes())


def test_bind_can_push_without_device_info_as_the_reference_allows(sim, client, callback):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=False)
    code = _refresh(client, device, nodeId="862177041314828")["verifyCode"]
    answer = sim.bind("862177041314828", code, push_device_info=False)
    assert answer == {"deviceId": device["deviceId"], "bound": True}
    bound = wait_until(lambda: callback.bodies("bindDevice"))
    assert bound == [
        {"notifyType": "bindDevice", "deviceId": device["deviceId"], "resultCode": "succeeded"}
    ]
    refused = sim.session.post(
        sim.url + "/simulator/bind", json={"nodeId": "x", "pushDeviceInfo": "no"}, timeout=5
    )
    assert refused.status_code == 400
    assert "pushDeviceInfo must be true or false" in refused.json()["error"]


def test_bind_is_refused_with_a_reason(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=False)
    _refresh(client, device, nodeId="SER-B-1", verifyCode="RIGHT")
    assert sim.bind("SER-B-1", "WRONG") == {"bound": False, "error": "verifyCode does not match"}
    assert sim.bind("SER-NOPE", "RIGHT") == {
        "bound": False,
        "error": "no pending binding for this nodeId",
    }
    assert sim.device(device["deviceId"])["status"] == "OFFLINE"
    answer = sim.session.post(sim.url + "/simulator/bind", json={"nodeId": "SER-B-1"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"] == "verifyCode is required"


def test_expire_bindings_pushes_expired_and_then_bind_fails(sim, client, callback):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    code = _refresh(client, device, nodeId="SER-E-1")["verifyCode"]
    assert sim.expire_bindings() == {"expired": 1}
    expired = wait_until(lambda: callback.bodies("bindDevice"))
    assert expired == [
        {"notifyType": "bindDevice", "deviceId": device["deviceId"], "resultCode": "expired"}
    ]
    assert sim.bind("SER-E-1", code)["bound"] is False
    assert sim.device(device["deviceId"])["status"] == "OFFLINE"


def test_a_binding_lapses_by_itself_after_its_timeout(sim, client, callback):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    code = _refresh(client, device, nodeId="SER-T-1", timeout=1)["verifyCode"]
    expired = wait_until(lambda: callback.bodies("bindDevice"), timeout=5)
    assert [b["resultCode"] for b in expired] == ["expired"]
    assert sim.bind("SER-T-1", code)["bound"] is False


def test_status_change_sends_device_info_changed_with_explicit_nulls(sim, callback):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.set_device(device["deviceId"], status="ONLINE")
    changed = wait_until(lambda: callback.bodies("deviceInfoChanged"))
    assert len(changed) == 1
    body = changed[0]
    assert body["notifyType"] == "deviceInfoChanged"
    assert body["deviceId"] == body["gatewayId"] == device["deviceId"]
    info = body["deviceInfo"]
    assert info["status"] == "ONLINE"
    assert info["statusDetail"] == "NONE"
    assert body["networkStatus"] == "ONLINE"
    assert {key: info[key] for key in REAL_DEVICE_INFO_EXTRAS} == REAL_DEVICE_INFO_EXTRAS
    assert "nodeId" in info and info["nodeId"] is None
    assert "name" in info and info["name"] is None


def test_register_and_delete_push_device_added_and_deleted(sim, client, callback):
    created = client.call("POST", "/iocm/app/reg/v1.1.0/deviceCredentials", json={"nodeId": "S1"})
    device_id = created.json()["deviceId"]
    added = wait_until(lambda: callback.bodies("deviceAdded"))
    assert added[0]["deviceInfo"] == {
        "nodeId": "S1",
        "status": "OFFLINE",
        "statusDetail": "NOT_ACTIVE",
        **REAL_DEVICE_INFO_EXTRAS,
    }
    # As real pushes: a directly connected NB-IoT device is a GATEWAY; networkStatus on top.
    assert (added[0]["nodeType"], added[0]["networkStatus"]) == ("GATEWAY", "OFFLINE")
    client.call("DELETE", f"/iocm/app/dm/v1.4.0/devices/{device_id}")
    deleted = wait_until(lambda: callback.bodies("deviceDeleted"))
    # gatewayId is mandatory in the reference (iot_06_0038); a direct device is its own gateway.
    assert deleted == [
        {"notifyType": "deviceDeleted", "deviceId": device_id, "gatewayId": device_id}
    ]


def test_failing_callback_is_retried_until_it_answers(sim, client, callback):
    callback.fail_first = 2
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.set_device(device["deviceId"], status="ABNORMAL")
    assert wait_until(lambda: callback.bodies("deviceInfoChanged"), timeout=10)
    attempts = [p for p in sim.pushes() if p["body"]["notifyType"] == "deviceInfoChanged"]
    assert [(p["attempt"], p["status"], p["ok"]) for p in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert len({p["id"] for p in attempts}) == 1


def test_unreachable_callback_gives_up_after_the_retry_period():
    with start_simulator("--push-retry-seconds", "1", "--devices", "20", "--quiet") as private:
        client = Client(private)
        with callback_server() as server:
            dead_url = server.url  # the server closes when the block ends
        subscribe(client, "deviceInfoChanged", dead_url)
        device = private.devices(status="OFFLINE", limit=1)[0]
        private.set_device(device["deviceId"], status="ONLINE")
        # retry period 1 s: attempt 1 at once, attempt 2 after 0.5 s, the next would be late
        attempts = wait_until(lambda: len(private.pushes()) >= 2 and private.pushes())
        assert [(p["attempt"], p["ok"], p["status"]) for p in attempts] == [
            (1, False, None),
            (2, False, None),
        ]
        time.sleep(1.2)
        assert len(private.pushes()) == len(attempts)  # no more retries


def test_duplicate_pushes_fault_sends_each_push_twice(sim, client, callback):
    sim.faults(duplicate_pushes=True)
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=False)
    code = _refresh(client, device, nodeId="SER-D-1")["verifyCode"]
    assert sim.bind("SER-D-1", code)["bound"] is True
    bound = wait_until(lambda: len(callback.bodies("bindDevice")) >= 2 and callback.bodies())
    assert len(callback.bodies("bindDevice")) == 2
    first, second = callback.bodies("bindDevice")
    assert first == second and first["resultCode"] == "succeeded"
    assert bound


def test_each_url_gets_one_copy_even_when_two_apps_subscribe_it(sim, client, callback):
    partner = Client(sim, app_id=sim.second_app_id, secret=sim.second_app_secret)
    subscribe(partner, "deviceInfoChanged", callback.url)
    device = one(sim, status="OFFLINE", owner=sim.second_app_id)
    sim.set_device(device["deviceId"], status="ONLINE")
    assert wait_until(lambda: callback.bodies("deviceInfoChanged"))
    time.sleep(0.3)
    assert len(callback.bodies("deviceInfoChanged")) == 1


def test_reset_drops_subscriptions_and_pushes(sim, client, callback):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.set_device(device["deviceId"], status="ONLINE")
    assert wait_until(lambda: sim.pushes())
    sim.reset()
    assert sim.pushes() == []
    sim.set_device(device["deviceId"], status="ONLINE")
    time.sleep(0.3)
    assert sim.pushes() == []  # no subscription left
