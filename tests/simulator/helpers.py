"""Small helpers for talking to the simulator the way a platform client would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

LOGIN = "/iocm/app/sec/v1.1.0/login"
REFRESH = "/iocm/app/sec/v1.1.0/refreshToken"
CREDENTIALS = "/iocm/app/reg/v1.1.0/deviceCredentials"
DEVICES = "/iocm/app/dm/v1.4.0/devices"
# The device list needs pageNo (or gatewayId): without both the platform answers 400 / 100218.
DEVICE_LIST = DEVICES + "?pageNo=0"
SUBSCRIPTIONS = "/iocm/app/sub/v1.2.0/subscriptions"


def login(sim: Any, *, app_id: str | None = None, secret: str | None = None) -> str:
    answer = sim.session.post(
        sim.url + LOGIN,
        data={"appId": app_id or sim.app_id, "secret": secret or sim.app_secret},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["accessToken"]


class Client:
    """A bare platform client: app_key + bearer token on every call."""

    def __init__(self, sim: Any, *, app_id: str | None = None, secret: str | None = None):
        self.sim = sim
        self.app_id = app_id or sim.app_id
        self.token = login(sim, app_id=self.app_id, secret=secret)

    def headers(self) -> dict[str, str]:
        return {"app_key": self.app_id, "Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 5)
        headers = {**self.headers(), **kw.pop("headers", {})}
        return self.sim.session.request(method, self.sim.url + path, headers=headers, **kw)

    def refresh_key(
        self, device_id: str, body: Any = None, *, app_id: str | None = None, **kw: Any
    ) -> requests.Response:
        params = {"appId": app_id} if app_id else None
        return self.call("PUT", f"{CREDENTIALS}/{device_id}", json=body or {}, params=params, **kw)


def error_code(answer: requests.Response) -> str | None:
    body = answer.json()
    return body.get("error_code") or body.get("resultcode")


def one(sim: Any, **filters: Any) -> dict[str, Any]:
    devices = sim.devices(limit=1, **filters)
    assert devices, f"no seeded device with {filters}"
    return devices[0]


class CallbackServer:
    """A tiny local HTTP server standing in for the dashboard's push endpoint."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_first = 0  # answer 500 to this many requests first
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                with outer.lock:
                    failing = outer.fail_first > 0
                    if failing:
                        outer.fail_first -= 1
                    else:
                        outer.received.append({"path": self.path, "body": body})
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/platform/push/s3cret/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def bodies(self, notify_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r["body"]
                for r in self.received
                if notify_type is None or r["body"].get("notifyType") == notify_type
            ]


@contextmanager
def callback_server() -> Iterator[CallbackServer]:
    server = CallbackServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def subscribe(client: Client, notify_type: str, url: str) -> dict[str, Any]:
    answer = client.call(
        "POST", SUBSCRIPTIONS, json={"notifyType": notify_type, "callbackUrl": url}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_until(predicate: Any, timeout: float = 10.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
