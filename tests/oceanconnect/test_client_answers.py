"""Every answer platform-api.md says the client must accept, over real HTTP (canned server)."""

import json
import logging
import socket

import pytest

from oceanconnect import (
    MemoryStore,
    PlatformClient,
    PlatformOutcomeUnknown,
    PlatformPermanentError,
    PlatformRetryableError,
    PlatformThrottled,
    catalogue,
)

from .conftest import make_config
from .test_responses import DOCUMENTED, RETRYABLE

DEVICE = "7f1c2a44-0000-4000-8000-000000000001"

# 1010005 and 1010009 trigger the client's own handling; they have their own tests below.
HANDLED_BY_CLIENT = {"1010005", "1010009", "100208"}
CODES = [(c, s) for c, s in DOCUMENTED if c not in HANDLED_BY_CLIENT]
CODES += sorted({(c, 200) for c, _ in CODES})


def shaped(shape: str, code: str, text: str) -> dict:
    if shape == "gateway":
        return {"resultcode": code, "resultmsg": text}
    return {"error_code": code, "error_desc": text}


@pytest.mark.parametrize("shape", ["application", "gateway"])
@pytest.mark.parametrize(("code", "status"), CODES)
def test_every_catalogue_code_reaches_the_caller_typed(
    canned_platform, canned_client, shape, code, status
):
    canned_platform.answer(status, shaped(shape, code, "platform says no"))
    expected = PlatformRetryableError if code in RETRYABLE else PlatformPermanentError
    with pytest.raises(expected) as caught:
        canned_client.refresh_device_key(DEVICE, node_id="862177041314827")
    error = caught.value
    assert (error.code, error.http_status, error.platform_text) == (
        code,
        status,
        "platform says no",
    )
    assert error.handling_text == catalogue.CATALOGUE[code].handling
    assert len(canned_platform.calls("deviceCredentials")) == 1  # never re-sent


@pytest.mark.parametrize("shape", ["application", "gateway"])
def test_bad_credentials_at_login_are_permanent_with_settings_advice(
    canned_platform, canned_client, shape
):
    body = shaped(shape, "100208", "AppId or secret is not right.")
    canned_platform.login_refusal = (401, json.dumps(body))
    with pytest.raises(PlatformPermanentError) as caught:
        canned_client.get_device(DEVICE)
    assert (caught.value.code, caught.value.http_status) == ("100208", 401)
    assert "IOT_APP_SECRET" in caught.value.handling_text
    assert canned_platform.calls("/devices/") == []  # nothing sent without a token


def test_unknown_code_is_permanent_and_keeps_code_and_text(canned_platform, canned_client):
    canned_platform.answer(400, {"error_code": "424242", "error_desc": "A brand new rule."})
    with pytest.raises(PlatformPermanentError) as caught:
        canned_client.get_device(DEVICE)
    assert (caught.value.code, caught.value.platform_text) == ("424242", "A brand new rule.")
    assert caught.value.handling_text == catalogue.UNKNOWN_CODE_HANDLING


def test_non_json_server_error_is_retryable(canned_platform, canned_client):
    canned_platform.answer(502, "<html>Bad Gateway</html>", content_type="text/html")
    with pytest.raises(PlatformRetryableError) as caught:
        canned_client.get_device(DEVICE)
    assert caught.value.code is None and caught.value.http_status == 502


def test_non_json_client_error_is_permanent(canned_platform, canned_client):
    canned_platform.answer(400, "Bad Request", content_type="text/plain")
    with pytest.raises(PlatformPermanentError) as caught:
        canned_client.activation_status(DEVICE)
    assert caught.value.code is None and caught.value.http_status == 400


def test_unreadable_success_of_refresh_device_key_is_outcome_unknown(
    canned_platform, canned_client
):
    canned_platform.answer(200, "<html>ok?</html>", content_type="text/html")
    with pytest.raises(PlatformOutcomeUnknown):
        canned_client.refresh_device_key(DEVICE)


def test_gateway_timeout_on_refresh_device_key_is_outcome_unknown(canned_platform, canned_client):
    canned_platform.answer(504, "Gateway Timeout", content_type="text/plain")
    with pytest.raises(PlatformOutcomeUnknown):
        canned_client.refresh_device_key(DEVICE)


def test_invalid_token_gets_exactly_one_relogin_and_one_retry(canned_platform, canned_client):
    canned_platform.answer(403, {"resultcode": "1010005", "resultmsg": "Invalid access token."})
    canned_platform.answer(200, {"deviceId": DEVICE, "activated": True, "name": "meter"})
    status = canned_client.activation_status(DEVICE)
    assert status.activated is True
    assert canned_platform.logins == 2
    calls = canned_platform.calls("deviceCredentials")
    assert [c.headers["Authorization"] for c in calls] == ["Bearer token-1", "Bearer token-2"]


def test_token_refused_twice_is_a_permanent_error_not_a_loop(canned_platform, canned_client):
    for _ in range(2):
        canned_platform.answer(403, {"resultcode": "1010005", "resultmsg": "Invalid access token."})
    with pytest.raises(PlatformPermanentError) as caught:
        canned_client.get_device(DEVICE)
    assert caught.value.code == "1010005"
    assert canned_platform.logins == 2
    assert len(canned_platform.calls("/devices/")) == 2


def test_throttled_answer_pauses_everyone_then_the_call_is_retried(canned_platform, canned_client):
    canned_platform.answer(403, {"resultcode": "1010009", "resultmsg": "app throttle exceed."})
    canned_platform.answer(200, {"verifyCode": "ABCD1234", "timeout": 180})
    result = canned_client.refresh_device_key(DEVICE, node_id="862177041314827")
    assert result.verify_code == "ABCD1234"
    assert len(canned_platform.calls("deviceCredentials")) == 2  # retried, not lost


def test_throttled_answer_tells_a_caller_who_cannot_wait_when_to_come_back(
    canned_platform, canned_client
):
    canned_platform.answer(403, {"resultcode": "1010009", "resultmsg": "app throttle exceed."})
    with pytest.raises(PlatformThrottled) as caught:
        canned_client.refresh_device_key(DEVICE, max_wait=0)
    assert caught.value.code == "1010009"
    assert caught.value.retry_after == pytest.approx(0.2)
    assert canned_client.store.cooldown_remaining() > 0  # every process pauses
    # The next call within the cool-down is refused before anything is sent.
    with pytest.raises(PlatformThrottled) as again:
        canned_client.get_device(DEVICE, max_wait=0)
    assert again.value.code is None
    assert len(canned_platform.calls("/iocm/app/dm/")) == 0


def test_requests_carry_app_key_bearer_token_and_no_secret_in_url(canned_platform, canned_client):
    canned_platform.answer(200, {"verifyCode": "X", "timeout": 0})
    canned_client.refresh_device_key(
        DEVICE, node_id="n-1", verify_code="X", timeout=0, app_id="partner-app"
    )
    login, call = canned_platform.seen
    assert login.method == "POST" and login.path == "/iocm/app/sec/v1.1.0/login"
    assert login.body == b"appId=iotadmin-demo-app&secret=iotadmin-demo-secret"
    assert "app_key" not in {k.lower() for k in login.headers}
    assert call.method == "PUT"
    assert call.path == f"/iocm/app/reg/v1.1.0/deviceCredentials/{DEVICE}?appId=partner-app"
    assert call.headers["app_key"] == "iotadmin-demo-app"
    assert call.headers["Authorization"] == "Bearer token-1"
    assert json.loads(call.body) == {"verifyCode": "X", "nodeId": "n-1", "timeout": 0}


def test_app_key_header_name_follows_the_setting(canned_platform):
    client = PlatformClient(
        config=make_config(canned_platform.url, app_key_header="x-app-key"), store=MemoryStore()
    )
    canned_platform.answer(200, {"deviceId": DEVICE, "activated": False})
    client.activation_status(DEVICE)
    assert canned_platform.calls("deviceCredentials")[0].headers["x-app-key"] == "iotadmin-demo-app"


def test_device_pages_are_walked_until_total_count(canned_platform, canned_client):
    for page_no, ids in enumerate([["a", "b"], ["c", "d"], ["e"]]):
        canned_platform.answer(
            200,
            {
                "totalCount": 5,
                "pageNo": page_no,
                "pageSize": 2,
                "devices": [{"deviceId": i, "deviceInfo": {"nodeId": i.upper()}} for i in ids],
            },
        )
    pages = list(canned_client.iter_device_pages(page_size=2))
    assert [p.page_no for p in pages] == [0, 1, 2]
    assert [d.info.node_id for p in pages for d in p.devices] == ["A", "B", "C", "D", "E"]
    paths = [c.path for c in canned_platform.calls("/devices")]
    assert paths == [
        f"/iocm/app/dm/v1.4.0/devices?pageNo={n}&pageSize=2&sort=ASC" for n in range(3)
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.refresh_device_key(""), "device_id"),
        (lambda c: c.refresh_device_key("d", node_id="x" * 257), "node_id"),
        (lambda c: c.refresh_device_key("d", timeout=-1), "timeout"),
        (lambda c: list(c.iter_device_pages(page_size=251)), "page_size"),
        (lambda c: c.subscribe("bindDevice", "ftp://x"), "callback_url"),
    ],
)
def test_bad_inputs_are_refused_before_sending(canned_platform, canned_client, call, message):
    with pytest.raises(ValueError, match=message):
        call(canned_client)
    assert canned_platform.seen == []


def test_connection_refused_is_retryable_and_nothing_was_sent():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is closed now: connecting is refused before anything is sent.
    client = PlatformClient(config=make_config(f"http://127.0.0.1:{port}"), store=MemoryStore())
    with pytest.raises(PlatformRetryableError) as caught:
        client.refresh_device_key(DEVICE)
    assert not isinstance(caught.value, PlatformOutcomeUnknown)
    assert caught.value.handling_text == catalogue.UNREACHABLE_HANDLING


def test_logs_carry_path_templates_and_codes_but_no_secrets(canned_platform, canned_client, caplog):
    canned_platform.answer(200, {"verifyCode": "SECRET-CODE", "timeout": 180})
    canned_platform.answer(400, {"error_code": "100611", "error_desc": "Device is online."})
    with caplog.at_level(logging.DEBUG):
        result = canned_client.refresh_device_key(DEVICE, verify_code="SECRET-CODE")
        with pytest.raises(PlatformPermanentError) as caught:
            canned_client.refresh_device_key(DEVICE, verify_code="SECRET-CODE")
    text = caplog.text + repr(result) + str(caught.value) + repr(caught.value)
    assert "/deviceCredentials/{deviceId} -> 400 code=100611" in caplog.text
    for secret in ("SECRET-CODE", "iotadmin-demo-secret", "token-1", "refresh-1"):
        assert secret not in text
    assert "iotadmin-demo-secret" not in repr(canned_client) + repr(canned_client.config)
