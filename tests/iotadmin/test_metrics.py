"""/metrics: who may read it, and what it says (Prometheus text format)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devices.models import SwapState
from iotadmin.metrics import (
    flow_slot_wait_observed,
    platform_call_observed,
    push_observed,
    swap_bound_observed,
    swap_code_issued_observed,
)
from tests.factories import SwapFactory

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-for-tests"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_is_404_while_neither_token_nor_addresses_are_set(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404


def test_metrics_refuses_a_wrong_token_and_an_address_not_allowed(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 403


@pytest.mark.django_db
def test_metrics_answers_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_metrics_answers_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8"]  # the test client's REMOTE_ADDR
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_a_swap_in_each_state_shows_up(client, settings):
    settings.METRICS_TOKEN = TOKEN
    for state in SwapState.values:
        SwapFactory(state=state)
    SwapFactory(state=SwapState.BOUND)

    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()

    found = samples(text)
    for state in SwapState.values:
        expected = 2.0 if state == SwapState.BOUND else 1.0
        assert found[("iotadmin_swaps", (("state", state),))] == expected, state
    assert found[("iotadmin_swap_queue_age_seconds", ())] >= 0
    assert found[("iotadmin_workers_alive", ())] == 0


@pytest.mark.django_db
def test_observations_show_up(client, settings):
    settings.METRICS_TOKEN = TOKEN
    path = "/iocm/app/dm/v1.4.0/devices/{deviceId}"
    before = samples(
        client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    )
    platform_call_observed("GET", path, 400, "424242", 0.2)
    flow_slot_wait_observed(0.5, "bulk")
    swap_code_issued_observed(seconds=3)
    swap_bound_observed(seconds=40)
    push_observed(notify_type="bindDevice", outcome="changed")

    found = samples(
        client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    )

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return found[key] - before.get(key, 0.0)

    call = {"method": "GET", "path": path, "status": "400", "code": "424242"}
    assert grew("iotadmin_platform_calls_total", **call) == 1
    assert grew("iotadmin_platform_call_seconds_count", method="GET", path=path) == 1
    assert grew("iotadmin_flow_slot_wait_seconds_count", lane="bulk") == 1
    assert grew("iotadmin_swap_submit_to_code_seconds_count") == 1
    assert grew("iotadmin_swap_request_to_bound_seconds_bucket", le="60.0") == 1
    assert grew("iotadmin_pushes_total", type="bindDevice", outcome="changed") == 1


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two processes observe, a third (the scrape) sees both: PROMETHEUS_MULTIPROC_DIR."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
    }
    observe = "from iotadmin.metrics import swap_code_issued_observed as o; o(seconds=4)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", observe], env=env, check=True, timeout=60)
    scrape = textwrap.dedent(
        """
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        print(generate_latest(registry).decode())
        """
    )
    text = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    assert samples(text)[("iotadmin_swap_submit_to_code_seconds_count", ())] == 2.0


@pytest.mark.django_db
def test_a_swap_marked_bound_is_observed_from_request_to_bind():
    from devices.services import swap_mark_bound
    from iotadmin.metrics import SWAP_REQUEST_TO_BOUND_SECONDS

    def count() -> float:
        return next(
            sample.value
            for sample in SWAP_REQUEST_TO_BOUND_SECONDS.collect()[0].samples
            if sample.name.endswith("_count")
        )

    swap = SwapFactory(issued=True)
    before = count()

    swap_mark_bound(device_id=swap.device.device_id, node_id=swap.new_node_id)
    swap_mark_bound(device_id=swap.device.device_id, node_id=swap.new_node_id)  # a duplicate

    assert count() - before == 1
