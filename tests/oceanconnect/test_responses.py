"""Turning answers into data or typed errors (pure: no HTTP), and what errors and values show."""

import json
import pickle
from datetime import UTC, datetime

import pytest

from oceanconnect import catalogue
from oceanconnect.errors import (
    PlatformError,
    PlatformOutcomeUnknown,
    PlatformPermanentError,
    PlatformRetryableError,
    PlatformThrottled,
)
from oceanconnect.responses import UnreadableAnswer, interpret
from oceanconnect.types import (
    AccessToken,
    DevicePage,
    PlatformDevice,
    RefreshDeviceKeyResult,
    RegisteredDevice,
    Subscription,
    parse_timestamp,
)

# Every code of platform-api.md with the statuses it documents, plus login's 100208.
DOCUMENTED = [
    ("100217", 200),
    ("100217", 403),
    ("100003", 400),
    ("100007", 400),
    ("100426", 400),
    ("100610", 400),
    ("100611", 400),
    ("50400", 400),
    ("100025", 401),
    ("100203", 403),
    ("100203", 500),
    ("1010009", 403),
    ("1010005", 403),
    ("100403", 404),
    ("100418", 404),
    ("50252", 500),
    ("100208", 401),
]
RETRYABLE = {"50252", "1010009"}


def application_body(code: str, text: str) -> str:
    return json.dumps({"error_code": code, "error_desc": text})


def gateway_body(code: str, text: str) -> str:
    return json.dumps({"resultcode": code, "resultmsg": text})


def test_catalogue_has_every_documented_code_with_handling_text():
    for code, _ in DOCUMENTED:
        entry = catalogue.CATALOGUE[code]
        assert entry.handling and entry.meaning
        assert code not in entry.handling  # plain words, not the code again


@pytest.mark.parametrize(
    "code", ["100227", "100247", "102202", "100405", "100216", "100218", "100416"]
)
def test_the_codes_found_in_huaweis_error_tables_have_their_own_handling(code):
    # Issue 8's codes (sources in catalogue.py); statuses vary by call, so 400 stands in.
    entry = catalogue.CATALOGUE[code]
    assert entry.handling and entry.meaning and code not in entry.handling
    assert catalogue.handling_text(code) != catalogue.UNKNOWN_CODE_HANDLING
    with pytest.raises(PlatformPermanentError) as caught:
        interpret(400, application_body(code, "from the platform"))
    assert (caught.value.code, caught.value.handling_text) == (code, entry.handling)


@pytest.mark.parametrize(
    "shape", [application_body, gateway_body], ids=["error_code", "resultcode"]
)
@pytest.mark.parametrize(("code", "status"), DOCUMENTED + [(c, 200) for c, _ in DOCUMENTED])
def test_every_code_becomes_its_typed_error(shape, code, status):
    with pytest.raises(PlatformError) as caught:
        interpret(status, shape(code, "the platform's words"))
    error = caught.value
    assert error.code == code
    assert error.http_status == status
    assert error.platform_text == "the platform's words"
    assert error.handling_text == catalogue.CATALOGUE[code].handling
    assert error.retryable is (code in RETRYABLE)
    if code == "1010009":
        assert isinstance(error, PlatformThrottled)
        assert error.retry_after > 0
    elif code in RETRYABLE:
        assert type(error) is PlatformRetryableError
    else:
        assert isinstance(error, PlatformPermanentError)


def test_numeric_code_is_read_as_string():
    with pytest.raises(PlatformPermanentError) as caught:
        interpret(400, '{"error_code": 100611, "error_desc": "Device is online."}')
    assert caught.value.code == "100611"


def test_unknown_code_is_permanent_and_keeps_code_and_text():
    with pytest.raises(PlatformPermanentError) as caught:
        interpret(400, application_body("123456", "Something new."))
    assert caught.value.code == "123456"
    assert caught.value.platform_text == "Something new."
    assert caught.value.handling_text == catalogue.UNKNOWN_CODE_HANDLING


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_without_code_is_retryable(status):
    with pytest.raises(PlatformRetryableError) as caught:
        interpret(status, "<html><body>Bad gateway</body></html>")
    assert caught.value.code is None
    assert caught.value.http_status == status
    assert "Bad gateway" in caught.value.platform_text
    assert caught.value.handling_text == catalogue.SERVER_ERROR_HANDLING


def test_client_error_with_non_json_body_is_permanent():
    with pytest.raises(PlatformPermanentError) as caught:
        interpret(400, "Bad Request")
    assert caught.value.code is None
    assert caught.value.http_status == 400
    assert caught.value.platform_text == "Bad Request"


def test_success_with_non_json_body_is_an_unreadable_answer():
    with pytest.raises(UnreadableAnswer) as caught:
        interpret(200, "<html>maintenance</html>")
    assert caught.value.retryable


def test_success_bodies_are_returned_and_empty_body_is_empty_dict():
    assert interpret(200, '{"verifyCode": "ABC", "timeout": 180}') == {
        "verifyCode": "ABC",
        "timeout": 180,
    }
    assert interpret(204, "") == {}


def test_long_platform_text_is_cut():
    with pytest.raises(PlatformError) as caught:
        interpret(400, application_body("100007", "x" * 5000))
    assert len(caught.value.platform_text) == 300


@pytest.mark.parametrize(
    "error",
    [
        PlatformPermanentError(code="100611", http_status=400, platform_text="Device is online."),
        PlatformRetryableError(code="50252", http_status=500, retry_after=3.0),
        PlatformThrottled(code="1010009", http_status=403, retry_after=7.5),
        PlatformOutcomeUnknown("no answer within 15 s"),
    ],
)
def test_errors_survive_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.code, copy.http_status, copy.handling_text, str(copy)) == (
        error.code,
        error.http_status,
        error.handling_text,
        str(error),
    )
    assert getattr(copy, "retry_after", None) == getattr(error, "retry_after", None)


def test_outcome_unknown_is_neither_retryable_nor_silent():
    error = PlatformOutcomeUnknown("no answer")
    assert not error.retryable
    assert "not known whether" in error.handling_text


def test_timestamps_parse_to_aware_utc_or_none():
    assert parse_timestamp("20151212T121212Z") == datetime(2015, 12, 12, 12, 12, 12, tzinfo=UTC)
    for garbled in (None, "", "2015-12-12", "20151312T121212Z", 20151212, "yesterday"):
        assert parse_timestamp(garbled) is None


def test_device_parsing_tolerates_nulls_and_garbage():
    device = PlatformDevice.from_json(
        {
            "deviceId": "d-1",
            "createTime": "garbled",
            "lastModifiedTime": "20200101T000000Z",
            "deviceInfo": {"nodeId": None, "status": "OFFLINE", "batteryLevel": "x"},
        }
    )
    assert device.device_id == "d-1"
    assert device.create_time is None
    assert device.last_modified_time == datetime(2020, 1, 1, tzinfo=UTC)
    assert device.info.node_id is None
    assert device.info.status == "OFFLINE"
    assert device.info.battery_level is None
    page = DevicePage.from_json({"devices": "nope"}, page_no=3, page_size=25)
    assert (page.page_no, page.page_size, page.total_count, page.devices) == (3, 25, 0, ())


def test_secrets_never_appear_in_reprs():
    values = [
        RefreshDeviceKeyResult(verify_code="SECRET-CODE-1", timeout=180),
        RegisteredDevice(device_id="d", verify_code="SECRET-CODE-2", timeout=0, psk="SECRET-PSK"),
        AccessToken(access_token="SECRET-TOKEN", refresh_token="SECRET-REFRESH", expires_at=1.0),
        Subscription(
            subscription_id="s",
            notify_type="bindDevice",
            callback_url="https://dash.example:443/platform/push/SECRET-PUSH/",
        ),
    ]
    text = " ".join(repr(v) + str(v) for v in values)
    assert "SECRET" not in text
    assert "dash.example:443" in text
