"""The record of calls that reached the platform, and the control endpoints' own rules."""

import time

from tests.simulator.helpers import CREDENTIALS, DEVICES, LOGIN, Client, one


def test_calls_record_method_path_app_key_time_status_and_code(sim):
    before = time.time()
    client = Client(sim)
    device = one(sim, status="ONLINE", owner=sim.app_id)
    client.refresh_key(device["deviceId"], {"nodeId": "SER-C-1"})
    client.call("GET", DEVICES, params={"pageNo": 0})
    calls = sim.calls()
    assert [(c["method"], c["path"], c["status"], c["code"]) for c in calls] == [
        ("POST", LOGIN, 200, None),
        ("PUT", f"{CREDENTIALS}/{device['deviceId']}", 400, "100611"),
        ("GET", DEVICES, 200, None),
    ]
    assert all(c["app_key"] == sim.app_id for c in calls)
    assert all(before <= c["time"] <= time.time() for c in calls)
    assert calls[2]["query"] == {"pageNo": "0"}
    assert sim.calls(since=calls[2]["time"]) == calls[2:]


def test_calls_never_hold_secrets(sim):
    client = Client(sim)
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    client.refresh_key(device["deviceId"], {"verifyCode": "TOPSECRET1"})
    text = str(sim.calls())
    assert sim.app_secret not in text
    assert client.token not in text
    assert "TOPSECRET1" not in text


def test_the_log_never_holds_secrets(start_simulator):
    with start_simulator("--devices", "10") as private:
        client = Client(private)
        device = private.devices(status="OFFLINE", limit=1)[0]
        code = client.refresh_key(device["deviceId"], {"nodeId": "SER-L-1"}).json()["verifyCode"]
        private.bind("SER-L-1", code)
        log = private.log()
        assert f"PUT {CREDENTIALS}/{device['deviceId']} 200" in log
        for secret in (private.app_secret, client.token, code):
            assert secret not in log
        assert "for tests and demos only" in log


def test_control_endpoints_say_they_are_for_tests_only(sim):
    answer = sim.session.get(sim.url + "/simulator/health", timeout=5)
    assert answer.headers["X-Simulator-Control"] == "for tests and demos only"
    assert "tests and demos only" in answer.json()["note"]
    unknown = sim.session.get(sim.url + "/simulator/nothing", timeout=5)
    assert unknown.status_code == 404


def test_set_device_validates_and_changes_state(sim):
    device = one(sim, status="INACTIVE", owner=sim.app_id)
    bad = sim.session.post(
        f"{sim.url}/simulator/devices/{device['deviceId']}", json={"status": "ASLEEP"}, timeout=5
    )
    assert bad.status_code == 400
    changed = sim.set_device(device["deviceId"], activated=True)
    assert (changed["status"], changed["activated"], changed["statusDetail"]) == (
        "OFFLINE",
        True,
        "NONE",
    )
    missing = sim.session.post(
        f"{sim.url}/simulator/devices/no-such-device", json={"status": "ONLINE"}, timeout=5
    )
    assert missing.status_code == 404


def test_control_device_filters(sim):
    partner_online = sim.devices(owner=sim.second_app_id, status="ONLINE")
    assert partner_online
    assert all(d["owner"] == sim.second_app_id and d["status"] == "ONLINE" for d in partner_online)
    never = sim.devices(activated=False)
    assert never and all(d["status"] == "INACTIVE" for d in never)
    assert len(sim.devices(limit=3)) == 3
    node = never[0]["nodeId"]
    assert [d["nodeId"] for d in sim.devices(nodeId=node)] == [node]
