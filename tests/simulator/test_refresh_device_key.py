"""PUT deviceCredentials/{deviceId}: success shapes and every catalogue code."""

import re

import pytest

from tests.simulator.helpers import CREDENTIALS, Client, error_code, one


@pytest.fixture
def client(sim):
    return Client(sim)


@pytest.fixture
def offline(sim):
    return one(sim, status="OFFLINE", owner=sim.app_id)


def test_generated_code_is_random_hex_and_not_the_node_id(sim, client, offline):
    answer = client.refresh_key(offline["deviceId"], {"nodeId": "862177041314827"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"verifyCode", "timeout"}
    assert re.fullmatch(r"[0-9A-F]{8}", body["verifyCode"])
    assert body["verifyCode"] != "862177041314827"
    assert body["timeout"] == 180
    again = client.refresh_key(offline["deviceId"], {"nodeId": "862177041314827"}).json()
    assert again["verifyCode"] != body["verifyCode"]


def test_given_code_and_timeout_are_echoed_and_the_binding_is_pending(sim, client, offline):
    answer = client.refresh_key(
        offline["deviceId"], {"nodeId": "AA:BB:CC:00:11:22", "verifyCode": "Abc123", "timeout": 0}
    )
    assert answer.status_code == 200
    assert answer.json() == {"verifyCode": "Abc123", "timeout": 0}
    binding = sim.device(offline["deviceId"])["binding"]
    assert binding["nodeId"] == "AA:BB:CC:00:11:22"
    assert binding["verifyCode"] == "Abc123"
    assert binding["expiresAt"] is None  # 0 = never expires


def test_absent_node_id_keeps_the_old_one(sim, client, offline):
    assert client.refresh_key(offline["deviceId"], {}).status_code == 200
    assert sim.device(offline["deviceId"])["binding"]["nodeId"] == offline["nodeId"]


def test_a_new_refresh_replaces_the_pending_binding(sim, client, offline):
    client.refresh_key(offline["deviceId"], {"nodeId": "SER-1", "verifyCode": "one"})
    client.refresh_key(offline["deviceId"], {"nodeId": "SER-2", "verifyCode": "two"})
    binding = sim.device(offline["deviceId"])["binding"]
    assert (binding["nodeId"], binding["verifyCode"]) == ("SER-2", "two")


def test_abnormal_devices_can_be_rekeyed(sim, client):
    device = one(sim, status="ABNORMAL", owner=sim.app_id)
    assert client.refresh_key(device["deviceId"], {"nodeId": "SER-ABN-1"}).status_code == 200


def test_online_device_is_refused_100611(sim, client):
    device = one(sim, status="ONLINE", owner=sim.app_id)
    answer = client.refresh_key(device["deviceId"], {"nodeId": "SER-X"})
    assert answer.status_code == 400
    assert answer.json() == {"error_code": "100611", "error_desc": "Device is online."}


def test_never_activated_device_is_refused_100610(sim, client):
    device = one(sim, status="INACTIVE", owner=sim.app_id)
    assert device["activated"] is False
    assert device["statusDetail"] == "NOT_ACTIVE"
    answer = client.refresh_key(device["deviceId"], {"nodeId": "SER-X"})
    assert answer.status_code == 400
    assert error_code(answer) == "100610"


def test_node_id_of_another_device_is_refused_100426(sim, client, offline):
    other = sim.devices(owner=sim.app_id, limit=5)[-1]
    assert other["deviceId"] != offline["deviceId"]
    answer = client.refresh_key(offline["deviceId"], {"nodeId": other["nodeId"]})
    assert answer.status_code == 400
    assert error_code(answer) == "100426"


def test_node_id_pending_for_another_device_is_refused_100426(sim, client):
    first, second = sim.devices(status="OFFLINE", owner=sim.app_id, limit=2)
    assert client.refresh_key(first["deviceId"], {"nodeId": "SER-SHARED"}).status_code == 200
    answer = client.refresh_key(second["deviceId"], {"nodeId": "SER-SHARED"})
    assert error_code(answer) == "100426"


def test_unknown_device_is_404_100403(client):
    answer = client.refresh_key("00000000-0000-4000-8000-000000000000", {})
    assert answer.status_code == 404
    assert error_code(answer) == "100403"


def test_device_of_another_app_without_app_id_is_404_100418(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.second_app_id)
    answer = client.refresh_key(device["deviceId"], {})
    assert answer.status_code == 404
    assert error_code(answer) == "100418"


def test_device_of_the_authorizing_app_works_with_its_app_id(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.second_app_id)
    answer = client.refresh_key(device["deviceId"], {"nodeId": "SER-P"}, app_id=sim.second_app_id)
    assert answer.status_code == 200


def test_app_id_for_our_own_device_is_100217_with_http_200(sim, client, offline):
    answer = client.refresh_key(offline["deviceId"], {}, app_id=sim.app_id)
    assert answer.status_code == 200
    assert answer.json() == {
        "error_code": "100217",
        "error_desc": "The application hasn't been authorized.",
    }
    assert sim.device(offline["deviceId"])["binding"] is None


def test_app_that_does_not_authorize_us_is_403_100217(client, offline):
    answer = client.refresh_key(offline["deviceId"], {}, app_id="foreign-app")
    assert answer.status_code == 403
    assert error_code(answer) == "100217"


def test_unknown_app_id_is_403_100203(client, offline):
    answer = client.refresh_key(offline["deviceId"], {}, app_id="no-such-app")
    assert answer.status_code == 403
    assert answer.json()["error_code"] == "100203"


@pytest.mark.parametrize("code", ["has space", "tab\there", "émoji", "\x07bell", ""])
def test_verify_code_outside_printable_ascii_is_100003(client, offline, code):
    answer = client.refresh_key(offline["deviceId"], {"verifyCode": code})
    assert answer.status_code == 400
    assert error_code(answer) == "100003"


@pytest.mark.parametrize(
    "body",
    [
        {"timeout": -1},
        {"timeout": "180"},
        {"timeout": 1.5},
        {"timeout": True},
        {"timeout": 2_147_483_648},
        {"verifyCode": "x" * 257},
        {"nodeId": "1" * 257},
        {"nodeId": 862177041314827},
        {"verifyCode": 1234},
    ],
)
def test_bad_input_is_50400(sim, client, offline, body):
    answer = client.refresh_key(offline["deviceId"], body)
    assert answer.status_code == 400
    assert error_code(answer) == "50400"
    assert sim.device(offline["deviceId"])["binding"] is None


def test_limits_are_inclusive(client, offline):
    answer = client.refresh_key(
        offline["deviceId"],
        {"verifyCode": "v" * 256, "nodeId": "n" * 256, "timeout": 2_147_483_647},
    )
    assert answer.status_code == 200


def test_unparseable_body_is_100007(client, offline):
    answer = client.call(
        "PUT",
        f"{CREDENTIALS}/{offline['deviceId']}",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert error_code(answer) == "100007"


def test_missing_device_id_is_100007(client):
    answer = client.call("PUT", f"{CREDENTIALS}/", json={})
    assert answer.status_code == 400
    assert error_code(answer) == "100007"


def test_missing_app_key_is_100025(sim, client, offline):
    answer = sim.session.put(
        f"{sim.url}{CREDENTIALS}/{offline['deviceId']}",
        json={},
        headers={"Authorization": f"Bearer {client.token}"},
        timeout=5,
    )
    assert answer.status_code == 401
    assert error_code(answer) == "100025"


def test_stale_token_is_1010005(sim, client, offline):
    Client(sim)  # logs in again: the first client's token is no longer the newest
    answer = client.refresh_key(offline["deviceId"], {})
    assert answer.status_code == 403
    assert answer.json()["resultcode"] == "1010005"


def test_internal_error_is_500_50252(sim, client, offline):
    sim.faults(mode="50252", count=1)
    answer = client.refresh_key(offline["deviceId"], {})
    assert answer.status_code == 500
    assert answer.json() == {"error_code": "50252", "error_desc": "Internal server error."}
    assert client.refresh_key(offline["deviceId"], {}).status_code == 200
