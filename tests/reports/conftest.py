"""The supervisor the report pages are read as."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import UserFactory


@pytest.fixture
def supervisor(client: Any) -> Any:
    user = UserFactory(supervisor=True, username="sue")
    client.force_login(user)
    return user
