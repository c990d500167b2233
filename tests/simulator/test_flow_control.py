"""Flow control: a sliding window per app over every call, login and refresh included."""

import time

from tests.simulator.helpers import DEVICE_LIST, DEVICES, LOGIN, Client
from tests.support.simulator import start_simulator


def test_calls_over_the_limit_get_403_1010009_and_are_recorded(sim):
    sim.flow_limit(5)
    client = Client(sim)  # the login is call 1
    answers = [client.call("GET", DEVICE_LIST) for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 403, 403]
    assert answers[-1].json() == {"resultcode": "1010009", "resultmsg": "app throttle exceed."}
    recorded = [c for c in sim.calls() if c["path"] in (DEVICES, LOGIN)]
    assert len(recorded) == 7
    assert [c["code"] for c in recorded].count("1010009") == 2


def test_login_counts_and_is_throttled_too(sim):
    sim.flow_limit(2)
    Client(sim)
    Client(sim)
    answer = sim.session.post(
        sim.url + LOGIN, data={"appId": sim.app_id, "secret": sim.app_secret}, timeout=5
    )
    assert answer.status_code == 403
    assert answer.json()["resultcode"] == "1010009"


def test_the_window_is_per_app(sim):
    sim.flow_limit(2)
    ours = Client(sim)
    assert ours.call("GET", DEVICE_LIST).status_code == 200
    assert ours.call("GET", DEVICE_LIST).status_code == 403
    partner = Client(sim, app_id=sim.second_app_id, secret=sim.second_app_secret)
    assert partner.call("GET", DEVICE_LIST).status_code == 200


def test_control_endpoints_do_not_count(sim):
    sim.flow_limit(2)
    for _ in range(5):
        sim.devices(limit=1)
        sim.calls()
    client = Client(sim)
    assert client.call("GET", DEVICE_LIST).status_code == 200


def test_the_window_slides():
    with start_simulator(
        "--flow-limit", "3", "--flow-window-seconds", "1", "--devices", "5", "--quiet"
    ) as private:
        client = Client(private)
        statuses = [client.call("GET", DEVICE_LIST).status_code for _ in range(3)]
        assert statuses == [200, 200, 403]
        time.sleep(1.1)
        assert client.call("GET", DEVICE_LIST).status_code == 200
