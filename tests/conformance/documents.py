"""The conformance fixtures: what Huawei's public documents say the platform sends and accepts.

Each `fixtures/*.json` is one platform call (`"call"`) or one push type (`"push"`), written
from the documents named in its `"source"` fields (see docs/architecture.md, "Conformance").
Plain Python: the Django-free client tests (tests/oceanconnect/test_conformance_*.py) and the
Django tests of this folder both read them through this module.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@cache
def _documents() -> tuple[dict[str, Any], ...]:
    documents = []
    for path in sorted(FIXTURES.glob("*.json")):
        document = json.loads(path.read_text())
        document["file"] = path.name
        documents.append(document)
    return tuple(documents)


def calls() -> list[dict[str, Any]]:
    return [d for d in _documents() if "call" in d]


def call(name: str) -> dict[str, Any]:
    return next(d for d in calls() if d["call"] == name)


def pushes() -> list[dict[str, Any]]:
    return [d for d in _documents() if "push" in d]


def cited(document: dict[str, Any], entry: dict[str, Any] | None = None) -> str:
    """The document(s) a fixture entry comes from, for failure messages."""
    sources = [entry["source"]] if entry and entry.get("source") else list(document["source"])
    return f"{document['file']}: " + "; ".join(sources)


def answer_params(*, client: bool = False, simulator: bool = False) -> list[Any]:
    """(document, answer) for every documented answer, as pytest params with readable ids.

    `client`: the answers the client call of the document can be fed, those with a `"result"`
    or an `"error"` (an answer with neither, such as a later page of a walk the client starts
    at page 0, is for the simulator only).
    """
    params = []
    for document in calls():
        if client and not document.get("client"):
            continue
        for answer in document["answers"]:
            if simulator and not answer.get("simulator"):
                continue
            if client and "result" not in answer and "error" not in answer:
                continue
            params.append(pytest.param(document, answer, id=f"{document['call']}-{answer['name']}"))
    return params


def push_params() -> list[Any]:
    return [
        pytest.param(document, body, id=f"{document['push']}-{body['name']}")
        for document in pushes()
        for body in document["bodies"]
    ]


def push(notify_type: str) -> dict[str, Any]:
    return next(d for d in pushes() if d["push"] == notify_type)


def push_mismatches(document: dict[str, Any], body: Any) -> list[str]:
    """How a push body departs from every documented body of its type (empty when it has the
    shape of at least one: each documented key there with its JSON type, see
    `shape_mismatches`). The documented bodies leave out what the reference marks optional,
    so a push missing a mandatory key matches none of them."""
    problems = []
    for entry in document["bodies"]:
        found = shape_mismatches(entry["body"], body)
        if not found:
            return []
        problems.append(f"not like {entry['name']!r} ({entry['source']}): {found}")
    return problems


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_mismatches(expected: Any, actual: Any, *, where: str = "body") -> list[str]:
    """How `actual` differs in shape from the documented `expected` answer body.

    Every documented key must be there with the documented JSON type; extra keys are fine
    (the client ignores unknown keys). A documented null says nothing about the type; inside
    nested objects (deviceInfo) an actual null is accepted, those fields being optional.
    Lists are compared on their first element when both have one.
    """
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where} is {json_type(actual)}, documented object"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key} is missing")
                continue
            if actual[key] is None and where != "body":
                continue
            problems += shape_mismatches(value, actual[key], where=f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where} is {json_type(actual)}, documented array"]
        if expected and actual:
            return shape_mismatches(expected[0], actual[0], where=f"{where}[0]")
        return []
    if json_type(expected) != json_type(actual):
        return [f"{where} is {json_type(actual)}, documented {json_type(expected)}"]
    return []


def _at(body: Any, dotted: str) -> Any:
    """The value at a dotted path of a JSON body; a whole-number part indexes a list."""
    value = body
    for part in dotted.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def expectation_mismatches(expects: dict[str, Any], body: Any) -> list[str]:
    """How a simulator's answer body breaks an answer's `"simulator_expects"`.

    `values`: {dotted path: the exact value}; `lengths`: {dotted path: how many items the
    list there has}; `order`: {"list", "key", "direction": "ASC" | "DESC"}, the list's items
    sorted by `key` (the page must hold two different values, or the order proves nothing).
    """
    problems = []
    for path, wanted in expects.get("values", {}).items():
        try:
            got = _at(body, path)
        except (KeyError, IndexError, TypeError, ValueError):
            problems.append(f"body.{path} is missing")
            continue
        if got != wanted:
            problems.append(f"body.{path} is {got!r}, documented {wanted!r}")
    for path, wanted in expects.get("lengths", {}).items():
        try:
            got = len(_at(body, path))
        except (KeyError, IndexError, TypeError, ValueError):
            problems.append(f"body.{path} is missing")
            continue
        if got != wanted:
            problems.append(f"body.{path} has {got} items, documented {wanted}")
    order = expects.get("order")
    if order:
        keys = [item.get(order["key"]) for item in _at(body, order["list"])]
        descending = order["direction"] == "DESC"
        if len(set(keys)) < 2:
            problems.append(f"body.{order['list']} has fewer than two {order['key']} values")
        elif keys != sorted(keys, reverse=descending):
            where = f"body.{order['list']}"
            problems.append(f"{where} is not sorted {order['direction']} by {order['key']}")
    return problems


def field_mismatches(spec: dict[str, Any], values: dict[str, Any], *, where: str) -> list[str]:
    """How sent `values` (a JSON body, a form or a query) break the documented field `spec`.

    Form and query values are text: an "integer" field must then be whole-number text.
    """
    problems = [f"{where}: {key} is not documented" for key in values if key not in spec]
    for key, rule in spec.items():
        if key not in values:
            if rule.get("required"):
                problems.append(f"{where}: required {key} is missing")
            continue
        value = values[key]
        kind = rule["type"]
        if where != "body" and isinstance(value, str) and kind == "integer":
            try:
                value = int(value)
            except ValueError:
                problems.append(f"{where}: {key}={value!r} is not a whole number")
                continue
        if not isinstance(value, JSON_TYPES[kind]) or (
            kind == "integer" and isinstance(value, bool)
        ):
            problems.append(f"{where}: {key} is {json_type(value)}, documented {kind}")
            continue
        if "max_length" in rule and len(value) > rule["max_length"]:
            problems.append(f"{where}: {key} is longer than {rule['max_length']}")
        if "minimum" in rule and value < rule["minimum"]:
            problems.append(f"{where}: {key} is below {rule['minimum']}")
        if "maximum" in rule and value > rule["maximum"]:
            problems.append(f"{where}: {key} is above {rule['maximum']}")
        if "enum" in rule and value not in rule["enum"]:
            problems.append(f"{where}: {key}={value!r} is not one of {rule['enum']}")
    return problems


def split_target(target: str) -> tuple[str, dict[str, str]]:
    """An HTTP request target as (path, query)."""
    parts = urlsplit(target)
    return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
