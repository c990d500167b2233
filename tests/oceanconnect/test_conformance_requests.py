"""The client sends what the documents say (tests/conformance/fixtures), over real HTTP.

The canned platform (conftest.py) records every request; each is checked against the
fixture's documented method, path, headers, query keys and body keys and types. A mismatch
names the document it breaks.
"""

import json
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest

from oceanconnect import MemoryStore, PlatformClient
from oceanconnect.tokens import TOKEN_CACHE_SECONDS, TOKEN_KEY
from oceanconnect.types import AccessToken
from tests.conformance import documents

from .conftest import CannedPlatform, Seen, make_config


def _header(seen: Seen, name: str) -> str | None:
    for key, value in seen.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def request_mismatches(
    request: dict[str, Any], seen: Seen, *, path: str | None = None
) -> list[str]:
    """How one recorded request differs from the documented `request`."""
    sent_path, query = documents.split_target(seen.path)
    problems = []
    if seen.method != request["method"]:
        problems.append(f"method {seen.method}, documented {request['method']}")
    if path is not None and sent_path != path:
        problems.append(f"path {sent_path}, documented {request['path']} ({path})")
    problems += [f"header {h} is missing" for h in request["headers"] if not _header(seen, h)]
    problems += [f"header {h} is sent" for h in request["absent_headers"] if _header(seen, h)]
    authorization = _header(seen, "Authorization")
    if "Authorization" in request["headers"] and authorization:
        if not authorization.startswith("Bearer "):
            problems.append("Authorization is not 'Bearer {accessToken}'")
    content_type = (_header(seen, "Content-Type") or "").split(";")[0].strip()
    if request["content_type"] and content_type != request["content_type"]:
        problems.append(f"Content-Type {content_type!r}, documented {request['content_type']}")
    problems += documents.field_mismatches(request["query"], query, where="query")
    if request.get("form") is not None:
        form = dict(parse_qsl(seen.body.decode()))
        problems += documents.field_mismatches(request["form"], form, where="form")
    elif request.get("body") is not None:
        body = json.loads(seen.body or b"null")
        if not isinstance(body, dict):
            problems.append(f"body is {documents.json_type(body)}, documented object")
        else:
            problems += documents.field_mismatches(request["body"], body, where="body")
    elif seen.body:
        problems.append("a body is sent, none documented")
    return problems


def _success(document: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in document["answers"] if 200 <= a["status"] < 300 and "error" not in a)


def _run(client: PlatformClient, method: str, args: list, kwargs: dict) -> Any:
    result = getattr(client, method)(*args, **kwargs)
    return list(result) if method == "iter_device_pages" else result


def _calls_with_client() -> list[Any]:
    params = []
    for document in documents.calls():
        spec = document.get("client")
        if not spec:
            continue
        params.append(pytest.param(document, spec, id=document["call"]))
        for variant in document.get("client_variants", []):
            merged = {**spec, "kwargs": variant["kwargs"], "query": variant["query"]}
            merged["source"] = variant["source"]
            name = f"{document['call']}-{variant['name']}"
            params.append(pytest.param(document, merged, id=name))
    return params


@pytest.mark.parametrize(("document", "spec"), _calls_with_client())
def test_client_sends_the_documented_request(canned_platform, canned_client, document, spec):
    canned_platform.answer(_success(document)["status"], _success(document)["body"])
    _run(canned_client, spec["method"], spec["args"], spec["kwargs"])
    seen = canned_platform.seen[-1]
    request = document["request"]
    problems = request_mismatches(request, seen, path=spec["path"])
    if "query" in spec:
        _, query = documents.split_target(seen.path)
        if query != spec["query"]:
            problems.append(f"query {query}, expected {spec['query']}")
    cite = spec if "source" in spec else request
    assert not problems, f"{documents.cited(document, cite)}: {problems}"


def test_login_is_the_documented_form_post(canned_platform, canned_client):
    document = documents.call("login")
    canned_platform.answer(200, {"deviceId": "d", "activated": True, "name": None})
    canned_client.activation_status("d")
    login = canned_platform.seen[0]
    problems = request_mismatches(document["request"], login, path=document["request"]["path"])
    assert not problems, f"{documents.cited(document, document['request'])}: {problems}"


def _client_with_token_near_expiry(platform: CannedPlatform) -> PlatformClient:
    """A client whose shared token is still usable but due for a refresh."""
    store = MemoryStore()
    token = AccessToken(
        access_token="old-token",
        refresh_token="old-refresh-token",
        expires_at=time.time() + 60,
        lifetime=3600.0,
    )
    store.set(TOKEN_KEY, json.dumps(token.to_json()), ttl=TOKEN_CACHE_SECONDS)
    return PlatformClient(config=make_config(platform.url), store=store)


def test_refresh_token_is_the_documented_json_post(canned_platform):
    document = documents.call("refresh_token")
    client = _client_with_token_near_expiry(canned_platform)
    try:
        canned_platform.answer(200, _success(document)["body"])
        canned_platform.answer(200, {"deviceId": "d", "activated": True, "name": None})
        client.activation_status("d")
    finally:
        client.close()
    refresh = canned_platform.seen[0]
    problems = request_mismatches(document["request"], refresh, path=document["request"]["path"])
    body = json.loads(refresh.body)
    if body.get("refreshToken") != "old-refresh-token":
        problems.append("refreshToken is not the one the last login gave")
    assert not problems, f"{documents.cited(document, document['request'])}: {problems}"
