"""Faults switched on at run time: latency, 500, 50252, reset, no answer, a documented error
answer; count and filter."""

import pytest
import requests

from tests.simulator.helpers import CREDENTIALS, DEVICE_LIST, Client, error_code, one
from tests.support.worker import wait_for


@pytest.fixture
def client(sim):
    return Client(sim)


def test_latency_makes_a_short_read_timeout_expire(sim, client):
    sim.faults(latency_ms=800)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.call("GET", DEVICE_LIST, timeout=(2, 0.2))
    sim.faults(latency_ms=300)
    answer = client.call("GET", DEVICE_LIST, timeout=(2, 5))
    assert answer.status_code == 200
    assert answer.elapsed.total_seconds() >= 0.3  # a lower bound: cannot flake


def test_http500_has_no_code_and_no_json(sim, client):
    sim.faults(mode="http500")
    answer = client.call("GET", DEVICE_LIST)
    assert answer.status_code == 500
    assert answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()


def test_50252_is_a_500_in_the_application_shape(sim, client):
    sim.faults(mode="50252")
    answer = client.call("GET", DEVICE_LIST)
    assert answer.status_code == 500
    assert error_code(answer) == "50252"


def test_answer_gives_a_documented_error_in_its_shape_and_changes_nothing(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.faults(mode="answer", status=500, code="100203", count=1, path_contains="deviceCredentials")
    answer = client.refresh_key(device["deviceId"], {"verifyCode": "NOPE0001"})
    assert answer.status_code == 500
    assert answer.json() == {
        "error_code": "100203",
        "error_desc": "The application is not existed.",
    }
    assert sim.device(device["deviceId"])["binding"] is None  # not processed
    assert sim.calls()[-1]["fault"] == "answer" and sim.calls()[-1]["code"] == "100203"
    assert client.refresh_key(device["deviceId"], {}).status_code == 200  # count=1 used up


def test_answer_with_a_gateway_code_has_the_gateway_shape(sim, client):
    sim.faults(mode="answer", status=403, code="1010009", count=1, path_contains="/dm/")
    answer = client.call("GET", DEVICE_LIST)
    assert (answer.status_code, answer.json()) == (
        403,
        {"resultcode": "1010009", "resultmsg": "app throttle exceed."},
    )


def test_reset_closes_the_connection_without_an_answer(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.faults(mode="reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.refresh_key(device["deviceId"], {})
    assert sim.device(device["deviceId"])["binding"] is None  # not processed
    assert client.refresh_key(device["deviceId"], {}).status_code == 200


def test_no_answer_holds_the_connection_until_the_client_gives_up(sim, client):
    sim.faults(mode="no_answer", count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.call("GET", DEVICE_LIST, timeout=(2, 0.5))
    assert client.call("GET", DEVICE_LIST).status_code == 200


def test_processed_fault_changes_state_but_loses_the_answer(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.faults(mode="no_answer", count=1, processed=True, path_contains="deviceCredentials")
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.refresh_key(device["deviceId"], {"nodeId": "SER-LOST"}, timeout=(2, 0.5))
    binding = sim.device(device["deviceId"])["binding"]
    assert binding is not None and binding["nodeId"] == "SER-LOST"
    recorded = [c for c in sim.calls() if c["path"].startswith(CREDENTIALS)]
    assert [(c["status"], c["fault"]) for c in recorded] == [(None, "no_answer")]


def test_count_limits_how_many_calls_are_hit(sim, client):
    sim.faults(mode="50252", count=2)
    statuses = [client.call("GET", DEVICE_LIST).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    assert sim.session.get(sim.url + "/simulator/faults", timeout=5).json()["mode"] == "none"


def test_path_filter_spares_other_calls(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.faults(mode="http500", path_contains="deviceCredentials")
    assert client.call("GET", DEVICE_LIST).status_code == 200
    assert client.refresh_key(device["deviceId"], {}).status_code == 500


def test_faults_do_not_touch_control_endpoints(sim):
    sim.faults(mode="reset")
    assert sim.health()["ok"] is True
    assert sim.devices(limit=1)


def test_bad_fault_requests_are_refused(sim):
    for body in (
        {"mode": "explode"},
        {"latency_ms": -1},
        {"count": 0},
        {"processed": "yes"},
        {"mode": "answer", "code": "100203"},
        {"mode": "answer", "status": 700, "code": "100203"},
        {"mode": "answer", "status": 500, "code": "999999"},
        {"mode": "http500", "status": 500, "code": "100203"},
    ):
        answer = sim.session.post(sim.url + "/simulator/faults", json=body, timeout=5)
        assert answer.status_code == 400
        assert answer.json()["error"]
    assert sim.session.get(sim.url + "/simulator/faults", timeout=5).json()["mode"] == "none"


def test_reset_clears_faults(sim, client):
    sim.faults(mode="http500")
    sim.reset()
    assert Client(sim).call("GET", DEVICE_LIST).status_code == 200


def test_late_application_applies_the_refresh_after_the_client_gave_up(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    sim.faults(
        mode="no_answer",
        count=1,
        processed=True,
        apply_after_seconds=1.0,
        path_contains="deviceCredentials",
    )
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.refresh_key(
            device["deviceId"], {"nodeId": "SER-LATE", "verifyCode": "LATE0001"}, timeout=(2, 0.3)
        )
    assert sim.device(device["deviceId"])["binding"] is None  # not applied yet
    entries = wait_for(sim.journal, timeout=10)
    assert [(e["deviceId"], e["nodeId"], e["verifyCode"]) for e in entries] == [
        (device["deviceId"], "SER-LATE", "LATE0001")
    ]
    binding = sim.device(device["deviceId"])["binding"]
    assert (binding["nodeId"], binding["verifyCode"]) == ("SER-LATE", "LATE0001")


def test_late_application_needs_a_processed_no_answer_fault(sim):
    with pytest.raises(AssertionError, match="apply_after_seconds"):
        sim.faults(mode="http500", apply_after_seconds=1)
    assert (
        sim.faults(mode="no_answer", processed=True, apply_after_seconds=2)["apply_after_seconds"]
        == 2.0
    )


def test_journal_lists_each_applied_refresh_and_reset_clears_it(sim, client):
    device = one(sim, status="OFFLINE", owner=sim.app_id)
    assert client.refresh_key(device["deviceId"], {"verifyCode": "FIRST001"}).status_code == 200
    assert client.refresh_key(device["deviceId"], {}).status_code == 200
    entries = sim.journal()
    assert [e["deviceId"] for e in entries] == [device["deviceId"]] * 2
    assert entries[0]["verifyCode"] == "FIRST001"
    assert entries[1]["verifyCode"] == sim.device(device["deviceId"])["binding"]["verifyCode"]
    assert entries[0]["appliedAt"] <= entries[1]["appliedAt"]
    sim.reset()
    assert sim.journal() == []
