"""What the test run may assume about its machine.

Locally a test that needs Redis, PostgreSQL or Chromium skips with the reason; in CI (CI=true)
the same absence is a failure, never a skip.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI, when something the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must have this: {reason}", pytrace=False)
    pytest.skip(reason)


def tcp_reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def redis_url() -> str:
    return (
        os.environ.get("TEST_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or "redis://127.0.0.1:6379/7"
    )


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def require_redis() -> str:
    url = redis_url()
    require(tcp_reachable(url, 6379), f"no Redis server at {url}")
    return url


@pytest.fixture
def require_chromium() -> str:
    path = chromium_path()
    require(path is not None, "Debian's Chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path
