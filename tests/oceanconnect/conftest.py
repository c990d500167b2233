"""Fixtures for the platform client's tests.

`canned_platform`: a real HTTP server on a free port that gives the answers a test queues.
The simulator sends each error in the one shape the real platform uses for it; this server
also sends the other shape, codes inside HTTP 200 and broken bodies, so the client is tested
over real HTTP against every answer platform-api.md says it must accept.
"""

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from oceanconnect import MemoryStore, PlatformClient, PlatformConfig

LOGIN_PATH = "/iocm/app/sec/v1.1.0/login"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CannedPlatform:
    url: str = ""
    answers: deque = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    logins: int = 0
    login_refusal: tuple[int, str] | None = None

    def answer(self, status: int, body: Any, *, content_type: str = "application/json") -> None:
        """Queue the answer to the next call that is not a login."""
        text = body if isinstance(body, str) else json.dumps(body)
        self.answers.append((status, text, content_type))

    def calls(self, path_contains: str = "") -> list[Seen]:
        return [s for s in self.seen if path_contains in s.path]


def _handler(platform: CannedPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            platform.seen.append(Seen(self.command, self.path, dict(self.headers), body))
            if self.path.startswith(LOGIN_PATH) and platform.login_refusal:
                status, text = platform.login_refusal
                ctype = "application/json"
            elif self.path.startswith(LOGIN_PATH):
                platform.logins += 1
                status, text, ctype = (
                    200,
                    json.dumps(
                        {
                            "accessToken": f"token-{platform.logins}",
                            "tokenType": "bearer",
                            "refreshToken": f"refresh-{platform.logins}",
                            "expiresIn": 3600,
                            "scope": "default",
                        }
                    ),
                    "application/json",
                )
            elif platform.answers:
                status, text, ctype = platform.answers.popleft()
            else:
                status, text, ctype = 500, "no answer queued", "text/plain"
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _any

    return Handler


@pytest.fixture
def canned_platform():
    platform = CannedPlatform()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(platform))
    server.daemon_threads = True
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield platform
    server.shutdown()
    server.server_close()


def make_config(url: str, **overrides: Any) -> PlatformConfig:
    values: dict[str, Any] = {
        "base_url": url,
        "app_id": "iotadmin-demo-app",
        "app_secret": "iotadmin-demo-secret",
        "flow_limit_per_minute": 1000,
        "flow_cooldown_seconds": 0.2,
        "connect_timeout": 2.0,
        "read_timeout": 3.0,
        "store_prefix": f"test:{uuid.uuid4().hex}:",
    }
    values.update(overrides)
    return PlatformConfig(**values)


@pytest.fixture
def canned_client(canned_platform):
    client = PlatformClient(config=make_config(canned_platform.url), store=MemoryStore())
    yield client
    client.close()


# The client against the simulator (`sim`), shared by the test_client_*.py modules.
@pytest.fixture
def platform_settings(sim):
    """Plain settings (IOT_* attributes) pointing the client at `sim`, with a private prefix."""
    return SimpleNamespace(
        IOT_PLATFORM_URL=sim.url,
        IOT_APP_ID=sim.app_id,
        IOT_APP_SECRET=sim.app_secret,
        IOT_CA_FILE="",
        IOT_CLIENT_CERT="",
        IOT_CLIENT_KEY="",
        IOT_STORE_PREFIX=f"test:{uuid.uuid4().hex}:",
        IOT_CONNECT_TIMEOUT=2,
        IOT_READ_TIMEOUT=3,
        IOT_FLOW_COOLDOWN_SECONDS=0.5,
    )


@pytest.fixture
def make_client(platform_settings):
    """Builds a client from the settings as they are now; closes every client it built."""
    built = []

    def make():
        client = PlatformClient(
            config=PlatformConfig.from_settings(platform_settings), store=MemoryStore()
        )
        built.append(client)
        return client

    yield make
    for client in built:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()
