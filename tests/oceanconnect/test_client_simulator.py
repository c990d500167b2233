"""The client against the running simulator: real calls, real errors, real faults.

No Django: the client is built with `PlatformConfig.from_settings` from a plain settings
object pointing at the simulator, and one process's MemoryStore (the shared stores have their
own tests in test_stores.py and test_multiprocess.py).
"""

import socket
import time

import pytest

from oceanconnect import (
    PlatformOutcomeUnknown,
    PlatformPermanentError,
    PlatformRetryableError,
    PlatformThrottled,
)

NEW_NODE_ID = "862177041314827"


def offline_device(sim, owner=None):
    """An offline unit that presents its verifyCode (not an NB-IoT one, which attaches with its
    IMEI and binds only with verifyCode == nodeId)."""
    devices = sim.devices(status="OFFLINE", activated=True, owner=owner or sim.app_id, nbiot=False)
    return devices[0]["deviceId"]


def platform_calls(sim, path_contains="", *, at_least=0, timeout=10.0):
    """The simulator's record of platform calls; waits for `at_least` (slow faults log late)."""
    deadline = time.monotonic() + timeout
    while True:
        calls = [
            c for c in sim.calls() if c["path"].startswith("/iocm/") and path_contains in c["path"]
        ]
        if len(calls) >= at_least or time.monotonic() > deadline:
            return calls
        time.sleep(0.1)


def test_refresh_device_key_gives_a_code_the_new_unit_binds_with(sim, client):
    device_id = offline_device(sim)
    result = client.refresh_device_key(device_id, node_id=NEW_NODE_ID, timeout=300)
    assert result.timeout == 300
    assert result.verify_code
    assert sim.bind(NEW_NODE_ID, result.verify_code)["bound"] is True
    assert client.activation_status(device_id).activated is True
    assert client.get_device(device_id).info.node_id == NEW_NODE_ID


def test_a_custom_verify_code_is_returned_unchanged(sim, client):
    result = client.refresh_device_key(
        offline_device(sim), node_id=NEW_NODE_ID, verify_code=NEW_NODE_ID
    )
    assert result.verify_code == NEW_NODE_ID
    assert result.timeout == 180


def test_device_of_an_authorizing_app_needs_its_app_id(sim, client):
    device_id = offline_device(sim, owner=sim.second_app_id)
    with pytest.raises(PlatformPermanentError) as caught:
        client.activation_status(device_id)
    assert caught.value.code == "100418"
    assert client.activation_status(device_id, app_id=sim.second_app_id).device_id == device_id


def test_every_page_of_the_device_list_is_read(sim, client):
    pages = list(client.iter_device_pages(page_size=100))
    ours = sim.devices(owner=sim.app_id)
    assert sum(len(p.devices) for p in pages) == pages[0].total_count == len(ours)
    assert {d.device_id for p in pages for d in p.devices} == {d["deviceId"] for d in ours}
    queries = [c["query"] for c in platform_calls(sim, "/dm/")]
    assert queries == [
        {"pageNo": str(n), "pageSize": "100", "sort": "ASC"} for n in range(len(pages))
    ]


@pytest.mark.parametrize(
    ("arrange", "call", "code", "status"),
    [
        (lambda sim, d: sim.set_device(d, status="ONLINE"), "refresh", "100611", 400),
        (lambda sim, d: sim.set_device(d, activated=False), "refresh", "100610", 400),
        (lambda sim, d: None, "duplicate", "100426", 400),
        (lambda sim, d: None, "missing", "100403", 404),
        (lambda sim, d: None, "own_app_id", "100217", 200),
        (lambda sim, d: None, "foreign_app_id", "100217", 403),
        (lambda sim, d: None, "unknown_app_id", "100203", 403),
        (lambda sim, d: None, "bad_verify_code", "100003", 400),
    ],
)
def test_platform_refusals_arrive_typed_with_handling_text(
    sim, client, arrange, call, code, status
):
    device_id = offline_device(sim)
    arrange(sim, device_id)
    other_node = sim.devices(owner=sim.app_id)[-1]["nodeId"]
    kwargs = {
        "refresh": {"node_id": NEW_NODE_ID},
        "duplicate": {"node_id": other_node},
        "missing": {},
        "own_app_id": {"app_id": sim.app_id},
        "foreign_app_id": {"app_id": "foreign-app"},
        "unknown_app_id": {"app_id": "no-such-app"},
        "bad_verify_code": {"verify_code": "has a space"},
    }[call]
    target = "0000-missing" if call == "missing" else device_id
    with pytest.raises(PlatformPermanentError) as caught:
        client.refresh_device_key(target, **kwargs)
    assert (caught.value.code, caught.value.http_status) == (code, status)
    assert caught.value.handling_text
    assert len(platform_calls(sim, "deviceCredentials")) == 1


def test_wrong_secret_is_a_permanent_error_naming_the_setting(sim, platform_settings, make_client):
    platform_settings.IOT_APP_SECRET = "not-the-secret"
    with pytest.raises(PlatformPermanentError) as caught:
        make_client().activation_status(offline_device(sim))
    assert caught.value.code == "100208"
    assert "IOT_APP_SECRET" in caught.value.handling_text
    assert "not-the-secret" not in str(caught.value) + repr(caught.value)
    assert [c["path"] for c in platform_calls(sim)] == ["/iocm/app/sec/v1.1.0/login"]


def test_missing_app_key_header_is_100025(sim, platform_settings, make_client):
    platform_settings.IOT_APP_KEY_HEADER = "x-not-the-app-key"
    with pytest.raises(PlatformPermanentError) as caught:
        make_client().activation_status(offline_device(sim))
    assert (caught.value.code, caught.value.http_status) == ("100025", 401)


def test_invalidated_tokens_cost_exactly_one_relogin(sim, client):
    device_id = offline_device(sim)
    client.activation_status(device_id)
    sim.invalidate_tokens()
    client.activation_status(device_id)
    client.activation_status(device_id)
    calls = platform_calls(sim)
    assert [c["path"].rsplit("/", 1)[-1] for c in calls if "login" in c["path"]] == ["login"] * 2
    assert [c["code"] for c in calls if "deviceCredentials" in c["path"]] == [
        None,
        "1010005",
        None,
        None,
    ]


def test_platform_throttle_pauses_and_the_call_is_retried_not_lost(sim, client):
    device_id = offline_device(sim)
    sim.flow_limit(2)  # the platform's limit is lower than ours: it will answer 1010009
    client.activation_status(device_id)  # login + 1 call fill the platform's window
    with pytest.raises(PlatformThrottled) as caught:
        client.activation_status(device_id, max_wait=0)
    assert caught.value.code == "1010009"
    assert caught.value.retry_after == pytest.approx(0.5)
    assert client.store.cooldown_remaining() > 0
    sim.flow_limit(100)
    assert client.activation_status(device_id, max_wait=5).device_id == device_id
    codes = [c["code"] for c in platform_calls(sim, "deviceCredentials")]
    assert codes == [None, "1010009", None]


def test_our_own_limit_refuses_before_sending_when_the_caller_cannot_wait(
    sim, platform_settings, make_client
):
    platform_settings.IOT_FLOW_LIMIT_PER_MINUTE = 3
    client = make_client()
    device_id = offline_device(sim)
    client.activation_status(device_id)
    client.activation_status(device_id)  # login + 2 calls: the window is full
    with pytest.raises(PlatformThrottled) as caught:
        client.refresh_device_key(device_id, node_id=NEW_NODE_ID, max_wait=1)
    assert 55 < caught.value.retry_after <= 61
    assert len(platform_calls(sim)) == 3
    assert platform_calls(sim, "deviceCredentials")[-1]["method"] == "GET"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"mode": "50252"}, PlatformRetryableError),
        ({"mode": "http500"}, PlatformRetryableError),
        ({"mode": "reset"}, PlatformRetryableError),
        ({"mode": "no_answer"}, PlatformRetryableError),
        ({"mode": "none", "latency_ms": 5000}, PlatformRetryableError),
    ],
    ids=["50252", "http500", "reset", "no_answer", "latency"],
)
def test_faults_on_reads_are_retryable_within_the_timeouts(sim, client, fault, error):
    device_id = offline_device(sim)
    client.activation_status(device_id)  # log in first
    sim.faults(count=1, path_contains="deviceCredentials", **fault)
    started = time.monotonic()
    with pytest.raises(error) as caught:
        client.activation_status(device_id)
    elapsed = time.monotonic() - started
    assert not isinstance(caught.value, PlatformOutcomeUnknown)
    assert elapsed < client.config.connect_timeout + client.config.read_timeout + 1
    calls = platform_calls(sim, "deviceCredentials", at_least=2)
    time.sleep(0.2)  # nothing else may follow
    assert len(platform_calls(sim, "deviceCredentials")) == len(calls) == 2  # sent once


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "reset", "processed": True},
        {"mode": "no_answer", "processed": True},
        {"mode": "none", "latency_ms": 5000},
    ],
    ids=["reset", "no_answer", "latency"],
)
def test_lost_answer_to_refresh_device_key_is_outcome_unknown_and_not_resent(sim, client, fault):
    device_id = offline_device(sim)
    client.activation_status(device_id)
    sim.faults(count=1, path_contains="deviceCredentials", **fault)
    started = time.monotonic()
    with pytest.raises(PlatformOutcomeUnknown) as caught:
        client.refresh_device_key(device_id, node_id=NEW_NODE_ID)
    assert time.monotonic() - started < client.config.read_timeout + 1
    assert "not known" in caught.value.handling_text
    platform_calls(sim, "deviceCredentials", at_least=2)
    time.sleep(0.2)  # nothing else may follow
    puts = [c for c in platform_calls(sim, "deviceCredentials") if c["method"] == "PUT"]
    assert len(puts) == 1
    # The platform did apply it: exactly why it must be reconciled, never blindly re-sent.
    assert sim.device(device_id)["binding"] is not None


def test_rejected_answer_before_processing_on_refresh_is_retryable(sim, client):
    device_id = offline_device(sim)
    client.activation_status(device_id)
    sim.faults(mode="50252", count=1, path_contains="deviceCredentials")
    with pytest.raises(PlatformRetryableError) as caught:
        client.refresh_device_key(device_id, node_id=NEW_NODE_ID)
    assert caught.value.code == "50252"
    assert client.refresh_device_key(device_id, node_id=NEW_NODE_ID).verify_code


def test_register_and_subscribe(sim, client):
    registered = client.register_device("AA:BB:CC:00:11:22", timeout=0)
    assert registered.device_id and registered.verify_code
    assert client.activation_status(registered.device_id).activated is False
    subscription = client.subscribe("bindDevice", "http://127.0.0.1:8000/platform/push/s3cret/")
    assert subscription.notify_type == "bindDevice"
    assert "s3cret" not in repr(subscription)


def test_flow_usage_counts_the_calls_this_client_made(sim, client):
    client.activation_status(offline_device(sim))
    usage = client.flow_usage()
    assert (usage.used, usage.limit, usage.seconds_until_free) == (2, 90, 0.0)  # login + call


def test_simulator_bind_connects_the_unit_without_a_token_or_a_slot(sim, client):
    device_id = offline_device(sim)
    result = client.refresh_device_key(device_id, node_id=NEW_NODE_ID, timeout=300)
    used = client.flow_usage().used
    binding = client.simulator_bind(node_id=NEW_NODE_ID, verify_code=result.verify_code)
    assert (binding.bound, binding.http_status, binding.device_id) == (True, 200, device_id)
    assert binding.reason == ""
    assert sim.device(device_id)["status"] == "ONLINE"
    assert client.flow_usage().used == used
    assert len(platform_calls(sim, "login")) == 1  # the bind needed no token


def test_simulator_bind_refusal_gives_the_reason_but_never_the_code(sim, client):
    device_id = offline_device(sim)
    client.refresh_device_key(device_id, node_id=NEW_NODE_ID, verify_code="ABCD1234")
    wrong = client.simulator_bind(node_id=NEW_NODE_ID, verify_code="WRONG999")
    assert (wrong.bound, wrong.http_status, wrong.reason) == (
        False,
        400,
        "verifyCode does not match",
    )
    unknown = client.simulator_bind(node_id="000000000000000", verify_code="ABCD1234")
    assert unknown.reason == "no pending binding for this nodeId"
    assert "ABCD1234" not in repr(unknown) + repr(wrong)


def test_simulator_bind_without_a_simulator_is_a_typed_error(sim, platform_settings, make_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        platform_settings.IOT_PLATFORM_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(PlatformRetryableError):
        make_client().simulator_bind(node_id=NEW_NODE_ID, verify_code="ABCD1234")
