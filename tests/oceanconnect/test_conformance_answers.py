"""Every documented answer (tests/conformance/fixtures) becomes the documented typed result.

Success bodies become the typed values; error bodies, in either shape and whatever the HTTP
status (codes inside HTTP 200 included), become the documented error class with its code and
`retryable`. A mismatch names the document it breaks.
"""

import json
import time
from typing import Any

import pytest

from oceanconnect import MemoryStore, PlatformClient, PlatformError, catalogue
from oceanconnect.responses import interpret
from oceanconnect.tokens import TOKEN_CACHE_SECONDS, TOKEN_KEY
from oceanconnect.types import AccessToken
from tests.conformance import documents

from .conftest import make_config

DEVICE_ANSWER = {"deviceId": "d", "activated": True, "name": None}


def _value(result: Any, dotted: str) -> Any:
    """An attribute of the typed result, dotted for nested ones; a number indexes a list."""
    value = result
    for part in dotted.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


def result_mismatches(result: Any, expected: dict[str, Any] | None) -> list[str]:
    """How the typed result differs from the documented one. A documented count of a list
    (an integer for a tuple or list attribute, e.g. "devices") is compared with its length;
    a null `expected` means the method returns None."""
    if expected is None:
        return [] if result is None else [f"returned {result!r}, documented nothing"]
    problems = []
    for name, wanted in expected.items():
        got = _value(result, name)
        if isinstance(got, tuple | list) and isinstance(wanted, int):
            got = len(got)
        if got != wanted:
            problems.append(f"{name} is {got!r}, documented {wanted!r}")
    return problems


def error_mismatches(error: PlatformError, expected: dict[str, Any]) -> list[str]:
    problems = []
    if type(error).__name__ != expected["class"]:
        problems.append(f"raised {type(error).__name__}, expected {expected['class']}")
    if error.code != expected["code"]:
        problems.append(f"code {error.code!r}, documented {expected['code']!r}")
    if error.retryable is not expected["retryable"]:
        problems.append(f"retryable {error.retryable}, expected {expected['retryable']}")
    return problems


@pytest.mark.parametrize(("document", "answer"), documents.answer_params())
def test_every_documented_answer_is_read_as_documented(document, answer):
    text = "" if answer["body"] is None else json.dumps(answer["body"])
    if "error" not in answer:
        assert interpret(answer["status"], text) == (answer["body"] or {}), documents.cited(
            document, answer
        )
        return
    with pytest.raises(PlatformError) as caught:
        interpret(answer["status"], text)
    problems = error_mismatches(caught.value, answer["error"])
    assert caught.value.http_status == answer["status"]
    assert not problems, f"{documents.cited(document, answer)}: {problems}"


@pytest.mark.parametrize(("document", "answer"), documents.answer_params(client=True))
def test_client_turns_each_documented_answer_into_its_typed_result(
    canned_platform, canned_client, document, answer
):
    spec = document["client"]
    code = answer.get("error", {}).get("code")
    # 1010005: the client logs in again once and retries, so the answer comes twice.
    for _ in range(2 if code == catalogue.TOKEN_INVALID else 1):
        canned_platform.answer(answer["status"], answer["body"])
    # 1010009: with no time to wait the client gives the throttle back to the caller.
    kwargs = {**spec["kwargs"], "max_wait": 0} if code == catalogue.THROTTLED else spec["kwargs"]
    try:
        result = getattr(canned_client, spec["method"])(*spec["args"], **kwargs)
        if spec["method"] == "iter_device_pages":
            result = next(iter(result))
    except PlatformError as error:
        assert "error" in answer, f"{documents.cited(document, answer)}: raised {error!r}"
        problems = error_mismatches(error, answer["error"])
        assert not problems, f"{documents.cited(document, answer)}: {problems}"
        return
    assert "error" not in answer, f"{documents.cited(document, answer)}: no error raised"
    problems = result_mismatches(result, answer["result"])
    assert not problems, f"{documents.cited(document, answer)}: {problems}"


@pytest.mark.parametrize(
    ("document", "answer"),
    [p for p in documents.answer_params() if p.values[0]["call"] == "login"],
)
def test_login_answers(canned_platform, canned_client, document, answer):
    canned_platform.login_refusal = (answer["status"], json.dumps(answer["body"]))
    canned_platform.answer(200, DEVICE_ANSWER)
    if "error" in answer:
        with pytest.raises(PlatformError) as caught:
            canned_client.activation_status("d")
        problems = error_mismatches(caught.value, answer["error"])
        assert not problems, f"{documents.cited(document, answer)}: {problems}"
        return
    canned_client.activation_status("d")
    sent = canned_platform.calls("deviceCredentials")[0].headers["Authorization"]
    assert sent == answer["result"]["authorization"], documents.cited(document, answer)


@pytest.mark.parametrize(
    ("document", "answer"),
    [p for p in documents.answer_params() if p.values[0]["call"] == "refresh_token"],
)
def test_refresh_token_answers(canned_platform, document, answer):
    store = MemoryStore()
    token = AccessToken(
        access_token="old-token",
        refresh_token="old-refresh-token",
        expires_at=time.time() + 60,
        lifetime=3600.0,
    )
    store.set(TOKEN_KEY, json.dumps(token.to_json()), ttl=TOKEN_CACHE_SECONDS)
    client = PlatformClient(config=make_config(canned_platform.url), store=store)
    try:
        canned_platform.answer(answer["status"], answer["body"])
        canned_platform.answer(200, DEVICE_ANSWER)
        client.activation_status("d")
    finally:
        client.close()
    sent = canned_platform.calls("deviceCredentials")[0].headers["Authorization"]
    if answer["result"].get("falls_back_to_login"):
        # A refused refresh is no failure for the caller: the client logs in instead.
        assert (canned_platform.logins, sent) == (1, "Bearer token-1"), documents.cited(
            document, answer
        )
    else:
        assert sent == answer["result"]["authorization"], documents.cited(document, answer)


def test_a_device_list_without_page_number_carries_the_catalogue_handling_text():
    body = documents.call("list_devices")["answers"]
    refused = next(a for a in body if a.get("error", {}).get("code") == "100218")
    with pytest.raises(PlatformError) as caught:
        interpret(refused["status"], json.dumps(refused["body"]))
    assert caught.value.handling_text == catalogue.handling_text("100218")
    assert "neither a page number (pageNo) nor a gateway ID" in caught.value.handling_text
