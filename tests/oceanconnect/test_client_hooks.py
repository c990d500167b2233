"""The client's observers: `on_call` for every exchange, `on_slot_wait` for every flow slot."""

import pytest

from oceanconnect import Lane, MemoryStore, PlatformClient, PlatformPermanentError

from .conftest import make_config

DEVICE = "d-hooks-1"


@pytest.fixture
def observed(canned_platform):
    calls: list[tuple] = []
    waits: list[tuple[float, str]] = []
    client = PlatformClient(
        config=make_config(canned_platform.url),
        store=MemoryStore(),
        on_call=lambda *args: calls.append(args),
        on_slot_wait=lambda seconds, lane: waits.append((seconds, lane)),
    )
    yield client, calls, waits
    client.close()


def test_on_call_sees_method_path_template_status_code_and_seconds(canned_platform, observed):
    client, calls, waits = observed
    canned_platform.answer(400, {"error_code": "424242", "error_desc": "A brand new rule."})

    with pytest.raises(PlatformPermanentError):
        client.get_device(DEVICE)

    login, get = calls
    assert login[:4] == ("POST", "/iocm/app/sec/v1.1.0/login", 200, None)
    assert get[0] == "GET" and "{deviceId}" in get[1] and DEVICE not in get[1]
    assert get[2:4] == (400, "424242")
    assert all(seconds >= 0 for *_, seconds in calls)
    assert len(waits) == 2 and all(wait >= 0 for wait, _ in waits)
    assert {lane for _, lane in waits} == {"interactive"}  # no lane given: interactive


def test_on_slot_wait_names_the_lane_of_the_call(canned_platform, observed):
    client, _calls, waits = observed
    canned_platform.answer(200, {"deviceId": DEVICE, "activated": False, "name": ""})
    client.activation_status(DEVICE, lane=Lane.BULK)
    assert [lane for _, lane in waits] == ["bulk", "bulk"]  # the login runs in the call's lane


def test_a_failing_observer_never_breaks_a_call(canned_platform):
    def broken(*args):
        raise RuntimeError("observer down")

    client = PlatformClient(
        config=make_config(canned_platform.url),
        store=MemoryStore(),
        on_call=broken,
        on_slot_wait=broken,
    )
    canned_platform.answer(400, {"error_code": "424242", "error_desc": "A brand new rule."})
    try:
        with pytest.raises(PlatformPermanentError):
            client.get_device(DEVICE)
    finally:
        client.close()


class Stop(Exception):
    pass


def test_exchange_guard_runs_before_every_exchange_logins_included(canned_platform, observed):
    from oceanconnect import exchange_guard

    client, _calls, _waits = observed
    canned_platform.answer(401, {"error_code": "1010005", "error_desc": "Invalid accessToken."})
    canned_platform.answer(200, {"deviceId": DEVICE, "activated": False, "name": ""})
    checked: list[int] = []
    with exchange_guard(lambda: checked.append(len(canned_platform.seen))):
        client.activation_status(DEVICE)
    # login, the call (1010005), the re-login, the retry: each checked before it was sent
    assert [s.path.split("?")[0].rsplit("/", 1)[-1] for s in canned_platform.seen] == [
        "login",
        DEVICE,
        "login",
        DEVICE,
    ]
    assert checked == [0, 1, 2, 3]
    # Outside the block the guard is gone.
    canned_platform.answer(200, {"deviceId": DEVICE, "activated": False, "name": ""})
    client.activation_status(DEVICE)
    assert checked == [0, 1, 2, 3]


def test_a_guard_that_raises_stops_the_exchange_before_it_is_sent(canned_platform, observed):
    from oceanconnect import exchange_guard

    client, _calls, _waits = observed
    canned_platform.answer(200, {"deviceId": DEVICE, "activated": False, "name": ""})
    client.activation_status(DEVICE)  # logged in, token cached
    sent = len(canned_platform.seen)

    def stop() -> None:
        raise Stop

    with exchange_guard(stop), pytest.raises(Stop):
        client.refresh_device_key(DEVICE, node_id="862177041314827")
    assert len(canned_platform.seen) == sent  # nothing reached the platform
