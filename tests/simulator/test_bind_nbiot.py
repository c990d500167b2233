"""The device side per protocol: an NB-IoT unit (CoAP/LwM2M) attaches with its IMEI and presents
no code, so it binds only when the pending verifyCode is its nodeId; other units present it."""

import subprocess
import sys

import pytest

from tests.simulator.helpers import Client, one
from tests.support.simulator import start_simulator

NEW_IMEI = "862177041314827"


@pytest.fixture
def client(sim):
    return Client(sim)


def _refresh(client, device, **body):
    answer = client.refresh_key(device["deviceId"], body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_seeded_registry_has_nbiot_meters_and_units_that_present_a_code(sim):
    protocols = {d["deviceInfo"]["protocolType"] for d in sim.devices()}
    assert {"CoAP", "LWM2M"} <= protocols
    assert protocols & {"MQTT", "HTTP"}
    assert all(
        d["deviceInfo"]["protocolType"] in ("CoAP", "LWM2M") for d in sim.devices(nbiot=True)
    )
    assert all(
        d["deviceInfo"]["protocolType"] not in ("CoAP", "LWM2M") for d in sim.devices(nbiot=False)
    )


def test_nbiot_unit_binds_without_a_code_when_the_pending_code_is_its_node_id(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=True)
    _refresh(client, device, nodeId=NEW_IMEI, verifyCode=NEW_IMEI)
    assert sim.bind(NEW_IMEI) == {"deviceId": device["deviceId"], "bound": True}
    after = sim.device(device["deviceId"])
    assert (after["nodeId"], after["status"], after["binding"]) == (NEW_IMEI, "ONLINE", None)


def test_nbiot_unit_binds_whatever_code_it_sends(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=True)
    _refresh(client, device, nodeId=NEW_IMEI, verifyCode=NEW_IMEI)
    assert sim.bind(NEW_IMEI, "ANYTHING")["bound"] is True


def test_nbiot_unit_never_binds_with_a_generated_code(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=True)
    code = _refresh(client, device, nodeId=NEW_IMEI)["verifyCode"]
    for presented in (None, code):
        answer = sim.bind(NEW_IMEI, presented)
        assert answer["bound"] is False
        assert "NB-IoT" in answer["error"] and "nodeId" in answer["error"]
        assert code not in answer["error"]
    assert sim.device(device["deviceId"])["status"] == "OFFLINE"


def test_a_unit_that_presents_a_code_must_present_the_pending_one(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=False)
    code = _refresh(client, device, nodeId="SER-P-1")["verifyCode"]
    assert sim.bind("SER-P-1") == {"bound": False, "error": "verifyCode is required"}
    assert sim.bind("SER-P-1", "WRONG") == {"bound": False, "error": "verifyCode does not match"}
    assert sim.bind("SER-P-1", code)["bound"] is True


def test_a_unit_that_presents_a_code_binds_with_node_id_as_code(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id, nbiot=False)
    _refresh(client, device, nodeId="SER-A-1", verifyCode="SER-A-1")  # Agent Lite
    assert sim.bind("SER-A-1") == {"bound": False, "error": "verifyCode is required"}
    assert sim.bind("SER-A-1", "ser-a-1")["bound"] is True


def test_a_non_text_code_is_refused(sim, client):
    answer = sim.session.post(
        sim.url + "/simulator/bind", json={"nodeId": NEW_IMEI, "verifyCode": 7}, timeout=5
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "verifyCode must be a string"


def test_the_nbiot_filter_must_be_a_boolean(sim):
    answer = sim.session.get(sim.url + "/simulator/devices", params={"nbiot": "x"}, timeout=5)
    assert answer.status_code == 400


def test_bind_cli_without_a_code_plays_an_nbiot_unit():
    with start_simulator("--devices", "20", "--quiet") as private:
        device = private.devices(status="OFFLINE", owner=private.app_id, nbiot=True, limit=1)[0]
        Client(private).refresh_key(
            device["deviceId"], {"nodeId": NEW_IMEI, "verifyCode": NEW_IMEI}
        )
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "bind", "--url", private.url, NEW_IMEI],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert device["deviceId"] in done.stdout


def test_bind_help_explains_the_nbiot_case():
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "bind", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert "NB-IoT" in done.stdout and "VERIFY_CODE" in done.stdout
