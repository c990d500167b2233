"""The supervisor the report pages are read as."""

from __future__ import annotations

from typing import Any

import pytest

from tests.devices.factories import make_user


@pytest.fixture
def supervisor(client: Any) -> Any:
    user = make_user(role="supervisor", username="sue")
    client.force_login(user)
    return user
