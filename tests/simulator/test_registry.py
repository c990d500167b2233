"""The other platform calls a swap needs: list, get, activation, register, modify, delete,
subscribe."""

import pytest

from tests.simulator.helpers import (
    CREDENTIALS,
    DEVICE_LIST,
    DEVICES,
    SUBSCRIPTIONS,
    Client,
    error_code,
    one,
    wait_until,
)


@pytest.fixture
def client(sim):
    return Client(sim)


def test_pages_cover_every_own_device_exactly_once(sim, client):
    own = {d["deviceId"] for d in sim.devices(owner=sim.app_id)}
    seen = []
    page_no = 0
    while True:
        answer = client.call("GET", DEVICES, params={"pageNo": page_no, "pageSize": 100})
        assert answer.status_code == 200
        body = answer.json()
        assert body["totalCount"] == len(own)
        assert (body["pageNo"], body["pageSize"]) == (page_no, 100)
        seen += [d["deviceId"] for d in body["devices"]]
        if len(body["devices"]) < 100:
            break
        page_no += 1
    assert len(seen) == len(own)
    assert set(seen) == own


def test_page_size_defaults_to_25_and_is_capped_at_250(client):
    assert len(client.call("GET", DEVICE_LIST).json()["devices"]) == 25
    assert client.call("GET", DEVICE_LIST, params={"pageSize": 250}).status_code == 200
    too_big = client.call("GET", DEVICE_LIST, params={"pageSize": 251})
    assert too_big.status_code == 400
    assert error_code(too_big) == "50400"
    assert error_code(client.call("GET", DEVICES, params={"pageNo": -1})) == "50400"
    assert error_code(client.call("GET", DEVICES, params={"pageNo": "x"})) == "50400"


def test_list_without_page_number_or_gateway_is_100218(client):
    # Huawei's device-list error table (批量查询设备信息列表): 400 / 100218 "The gatewayId and
    # pageNo can't be both null."
    answer = client.call("GET", DEVICES, params={"pageSize": 10})
    assert (answer.status_code, error_code(answer)) == (400, "100218")
    assert answer.json()["error_desc"] == "The gatewayId and pageNo can't be both null."
    assert client.call("GET", DEVICES, params={"pageNo": 0}).status_code == 200


def test_list_filters_by_status_and_lists_partner_devices_with_app_id(sim, client):
    online = client.call("GET", DEVICE_LIST, params={"status": "ONLINE", "pageSize": 250}).json()
    assert online["totalCount"] == len(sim.devices(owner=sim.app_id, status="ONLINE"))
    assert {d["deviceInfo"]["status"] for d in online["devices"]} == {"ONLINE"}
    partner = client.call("GET", DEVICE_LIST, params={"appId": sim.second_app_id, "pageSize": 250})
    assert partner.json()["totalCount"] == len(sim.devices(owner=sim.second_app_id))


def test_get_one_device_has_the_platform_fields(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    body = client.call("GET", f"{DEVICES}/{device['deviceId']}").json()
    assert set(body) >= {
        "deviceId",
        "gatewayId",
        "nodeType",
        "createTime",
        "lastModifiedTime",
        "deviceInfo",
        "services",
    }
    assert body["deviceInfo"]["nodeId"] == device["nodeId"]
    assert body["deviceInfo"]["status"] == "OFFLINE"
    assert body["deviceInfo"]["statusDetail"] == "NONE"
    assert len(body["createTime"]) == 16 and body["createTime"].endswith("Z")


def test_unknown_and_foreign_devices_on_get(sim, client):
    missing = client.call("GET", f"{DEVICES}/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, error_code(missing)) == (404, "100403")
    partner = one(sim, owner=sim.second_app_id)
    foreign = client.call("GET", f"{DEVICES}/{partner['deviceId']}")
    assert (foreign.status_code, error_code(foreign)) == (404, "100418")


def test_activation_status(sim, client):
    inactive = one(sim, status="INACTIVE", owner=sim.app_id)
    active = one(sim, status="OFFLINE", owner=sim.app_id)
    assert client.call("GET", f"{CREDENTIALS}/{inactive['deviceId']}").json() == {
        "deviceId": inactive["deviceId"],
        "activated": False,
        "name": inactive["deviceInfo"]["name"],
    }
    assert client.call("GET", f"{CREDENTIALS}/{active['deviceId']}").json()["activated"] is True


def test_register_device_then_bind_activates_it(sim, client):
    answer = client.call(
        "POST",
        CREDENTIALS,
        json={"nodeId": "862177041314827", "deviceInfo": {"name": "New meter", "model": "X1"}},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"deviceId", "verifyCode", "timeout", "psk"}
    device = sim.device(body["deviceId"])
    assert (device["status"], device["statusDetail"], device["activated"]) == (
        "INACTIVE",
        "NOT_ACTIVE",
        False,
    )
    assert sim.bind("862177041314827", body["verifyCode"].lower())["bound"] is True
    assert client.call("GET", f"{CREDENTIALS}/{body['deviceId']}").json()["activated"] is True
    again = client.call("POST", CREDENTIALS, json={"nodeId": "862177041314827"})
    assert error_code(again) == "100426"
    assert error_code(client.call("POST", CREDENTIALS, json={})) == "50400"


def test_modify_and_delete_device(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    path = f"{DEVICES}/{device['deviceId']}"
    assert client.call("PUT", path, json={"name": "Renamed"}).status_code == 204
    assert client.call("GET", path).json()["deviceInfo"]["name"] == "Renamed"
    assert client.call("DELETE", path, params={"cascade": "true"}).status_code == 204
    assert error_code(client.call("GET", path)) == "100403"


def test_subscribe_answers_201_and_requires_a_port(client):
    url = "http://127.0.0.1:8000/platform/push/secret/"
    answer = client.call(
        "POST", SUBSCRIPTIONS, json={"notifyType": "bindDevice", "callbackUrl": url}
    )
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"subscriptionId", "notifyType", "callbackUrl"}
    assert (body["notifyType"], body["callbackUrl"]) == ("bindDevice", url)
    no_port = client.call(
        "POST",
        SUBSCRIPTIONS,
        json={"notifyType": "bindDevice", "callbackUrl": "http://127.0.0.1/push/"},
    )
    assert no_port.status_code == 400
    bad_type = client.call(
        "POST", SUBSCRIPTIONS, json={"notifyType": "nonsense", "callbackUrl": url}
    )
    assert error_code(bad_type) == "50400"


def test_unknown_api_path_is_404(client):
    assert client.call("GET", "/iocm/app/nothing/here").status_code == 404


def test_a_registration_never_expires_by_default(sim, client):
    body = client.call("POST", CREDENTIALS, json={"nodeId": "REG-DEFAULT-1"}).json()
    assert body["timeout"] == 0  # the HTTP reference's default for a registration
    assert sim.device(body["deviceId"])["binding"]["expiresAt"] is None


def test_an_unbound_registration_whose_timeout_passes_is_deleted(sim, client):
    lapsing = client.call(
        "POST", CREDENTIALS, json={"nodeId": "REG-LAPSE-1", "timeout": 300}
    ).json()

    assert sim.expire_bindings() == {"expired": 1}

    path = f"{DEVICES}/{lapsing['deviceId']}"
    assert error_code(client.call("GET", path)) == "100403"
    assert sim.devices(nodeId="REG-LAPSE-1") == []
    # The nodeId is free again once the registration is gone.
    again = client.call("POST", CREDENTIALS, json={"nodeId": "REG-LAPSE-1"})
    assert again.status_code == 200


def test_an_unbound_registration_lapses_by_itself(sim, client):
    body = client.call("POST", CREDENTIALS, json={"nodeId": "REG-T-1", "timeout": 1}).json()
    assert wait_until(lambda: sim.devices(nodeId="REG-T-1") == [], timeout=5)
    assert sim.bind("REG-T-1", body["verifyCode"])["bound"] is False


def test_a_bound_registration_stays(sim, client):
    body = client.call("POST", CREDENTIALS, json={"nodeId": "REG-B-1", "timeout": 300}).json()
    assert sim.bind("REG-B-1", body["verifyCode"])["bound"] is True
    assert sim.expire_bindings() == {"expired": 0}
    assert sim.device(body["deviceId"])["activated"] is True
