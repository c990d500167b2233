"""The simulator pushes what the documents say the platform pushes (fixtures/push_*.json).

Each trigger below makes the running simulator (`sim`, reset before each test) send one kind
of push to a local callback server, through its platform calls and control endpoints; every
push it sent (`sim.pushes()`) must have the shape of at least one documented body of its
notifyType. A mismatch names the documents the push departs from.
"""

from collections.abc import Callable
from typing import Any

import pytest

from tests.conformance import documents
from tests.simulator.helpers import CREDENTIALS, DEVICES, Client, callback_server, one, subscribe

NEW_NODE_ID = "359881030314520"


def _rebind(sim: Any, client: Client) -> dict[str, Any]:
    device = one(sim, owner=sim.app_id, status="OFFLINE", activated=True)
    answer = client.refresh_key(device["deviceId"], {"nodeId": NEW_NODE_ID, "timeout": 180})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _register(client: Client) -> str:
    answer = client.call("POST", CREDENTIALS, json={"nodeId": NEW_NODE_ID})
    assert answer.status_code == 200, answer.text
    return answer.json()["deviceId"]


def _registered(sim: Any, client: Client) -> None:
    _register(client)


def _bind_succeeded(sim: Any, client: Client) -> None:
    code = _rebind(sim, client)["verifyCode"]
    assert sim.bind(NEW_NODE_ID, code)["bound"]


def _bind_succeeded_without_device_info(sim: Any, client: Client) -> None:
    code = _rebind(sim, client)["verifyCode"]
    assert sim.bind(NEW_NODE_ID, code, push_device_info=False)["bound"]


def _bind_expired(sim: Any, client: Client) -> None:
    _rebind(sim, client)
    assert sim.expire_bindings()["expired"] == 1


def _status_changed(sim: Any, client: Client) -> None:
    sim.set_device(one(sim, owner=sim.app_id, status="OFFLINE")["deviceId"], status="ABNORMAL")


def _deleted(sim: Any, client: Client) -> None:
    answer = client.call("DELETE", f"{DEVICES}/{_register(client)}")
    assert answer.status_code == 204, answer.text


def _registration_lapsed(sim: Any, client: Client) -> None:
    _register(client)
    assert sim.expire_bindings()["expired"] == 1


# trigger name: (notifyType, what makes the simulator push it)
TRIGGERS: dict[str, tuple[str, Callable[[Any, Client], None]]] = {
    "bind_succeeded": ("bindDevice", _bind_succeeded),
    "bind_succeeded_without_device_info": ("bindDevice", _bind_succeeded_without_device_info),
    "bind_expired": ("bindDevice", _bind_expired),
    "registered": ("deviceAdded", _registered),
    "status_changed": ("deviceInfoChanged", _status_changed),
    "bound_device_changed": ("deviceInfoChanged", _bind_succeeded),
    "deleted": ("deviceDeleted", _deleted),
    "registration_lapsed": ("deviceDeleted", _registration_lapsed),
}


def test_every_documented_push_type_has_a_trigger():
    assert {notify_type for notify_type, _ in TRIGGERS.values()} == {
        document["push"] for document in documents.pushes()
    }


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_simulator_pushes_the_documented_body(sim, trigger):
    notify_type, make_push = TRIGGERS[trigger]
    document = documents.push(notify_type)
    client = Client(sim)
    with callback_server() as callback:
        for each in {t for t, _ in TRIGGERS.values()}:
            subscribe(client, each, callback.url)
        make_push(sim, client)
        sent = sim.wait_for_pushes(lambda p: p["body"]["notifyType"] == notify_type)
    assert sent, f"{documents.cited(document)}: the simulator sent no {notify_type} push"
    problems = [
        f"{push['body']}: {mismatches}"
        for push in sent
        if (mismatches := documents.push_mismatches(document, push["body"]))
    ]
    assert not problems, f"{documents.cited(document)}: {problems}"
