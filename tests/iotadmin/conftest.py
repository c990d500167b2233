import uuid

import pytest


@pytest.fixture(autouse=True)
def _private_store_prefix(settings):
    """Heartbeats and platform state of this test only (Redis is shared by runs and tests)."""
    settings.IOT_STORE_PREFIX = f"test:{uuid.uuid4().hex}:"
