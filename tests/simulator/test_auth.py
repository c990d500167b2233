"""Login, token refresh, only-the-newest-token, app_key, token expiry."""

import time

import pytest

from tests.simulator.helpers import DEVICE_LIST, DEVICES, LOGIN, REFRESH, Client, error_code, one
from tests.support.simulator import start_simulator


def test_login_is_form_encoded_and_returns_the_five_fields(sim):
    answer = sim.session.post(
        sim.url + LOGIN, data={"appId": sim.app_id, "secret": sim.app_secret}, timeout=5
    )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"accessToken", "tokenType", "refreshToken", "expiresIn", "scope"}
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 3600
    assert body["scope"] == "default"


def test_bad_secret_is_401_100208_in_the_application_shape(sim):
    answer = sim.session.post(
        sim.url + LOGIN, data={"appId": sim.app_id, "secret": "wrong"}, timeout=5
    )
    assert answer.status_code == 401
    assert answer.json() == {"error_code": "100208", "error_desc": "AppId or secret is not right."}


def test_json_login_is_not_understood(sim):
    answer = sim.session.post(
        sim.url + LOGIN, json={"appId": sim.app_id, "secret": sim.app_secret}, timeout=5
    )
    assert answer.status_code == 400
    assert error_code(answer) == "50400"


def test_a_new_login_invalidates_the_previous_token(sim):
    first = Client(sim)
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    assert first.call("GET", f"{DEVICES}/{device['deviceId']}").status_code == 200
    second = Client(sim)
    stale = first.call("GET", f"{DEVICES}/{device['deviceId']}")
    assert stale.status_code == 403
    assert stale.json() == {
        "resultcode": "1010005",
        "resultmsg": "Invalid access token or appId.",
    }
    assert second.call("GET", f"{DEVICES}/{device['deviceId']}").status_code == 200


def test_refresh_token_issues_a_new_access_token_and_retires_the_old(sim):
    answer = sim.session.post(
        sim.url + LOGIN, data={"appId": sim.app_id, "secret": sim.app_secret}, timeout=5
    )
    tokens = answer.json()
    refreshed = sim.session.post(
        sim.url + REFRESH,
        json={
            "appId": sim.app_id,
            "secret": sim.app_secret,
            "refreshToken": tokens["refreshToken"],
        },
        timeout=5,
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert set(new) == {"accessToken", "tokenType", "refreshToken", "expiresIn", "scope"}
    assert new["accessToken"] != tokens["accessToken"]
    headers = {"app_key": sim.app_id}
    old = sim.session.get(
        sim.url + DEVICE_LIST,
        headers={**headers, "Authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert error_code(old) == "1010005"
    fresh = sim.session.get(
        sim.url + DEVICE_LIST, headers={**headers, "Authorization": f"Bearer {new['accessToken']}"}
    )
    assert fresh.status_code == 200


def test_refresh_with_an_unknown_refresh_token_is_401_100208_as_on_the_platform(sim):
    answer = sim.session.post(
        sim.url + REFRESH,
        json={"appId": sim.app_id, "secret": sim.app_secret, "refreshToken": "nope"},
        timeout=5,
    )
    assert answer.status_code == 401
    assert error_code(answer) == "100208"


def test_missing_app_key_is_401_100025(sim):
    client = Client(sim)
    answer = sim.session.get(
        sim.url + DEVICE_LIST, headers={"Authorization": f"Bearer {client.token}"}, timeout=5
    )
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "100025"


def test_x_app_key_is_accepted_instead_of_app_key(sim):
    client = Client(sim)
    answer = sim.session.get(
        sim.url + DEVICE_LIST,
        headers={"x-app-key": sim.app_id, "Authorization": f"Bearer {client.token}"},
        timeout=5,
    )
    assert answer.status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
def test_missing_or_wrong_token_is_403_1010005_in_the_gateway_shape(sim, authorization):
    Client(sim)
    headers = {"app_key": sim.app_id}
    if authorization:
        headers["Authorization"] = authorization
    answer = sim.session.get(sim.url + DEVICE_LIST, headers=headers, timeout=5)
    assert answer.status_code == 403
    assert set(answer.json()) == {"resultcode", "resultmsg"}
    assert answer.json()["resultcode"] == "1010005"


def test_invalidate_tokens_makes_the_current_token_fail(sim):
    client = Client(sim)
    assert client.call("GET", DEVICE_LIST).status_code == 200
    assert sim.invalidate_tokens()["invalidated"] == 1
    assert error_code(client.call("GET", DEVICE_LIST)) == "1010005"


def test_access_token_expires_after_token_ttl():
    with start_simulator("--token-ttl", "1", "--devices", "5", "--quiet") as private:
        client = Client(private)
        assert client.call("GET", DEVICE_LIST).status_code == 200
        time.sleep(1.2)
        answer = client.call("GET", DEVICE_LIST)
        assert answer.status_code == 403
        assert error_code(answer) == "1010005"
