"""Shared fixtures live in tests/support/, one module per concern."""

import pytest

pytest_plugins = [
    "tests.support.environment",
    "tests.support.simulator",
    "tests.support.worker",
    "tests.support.browser",
]


@pytest.fixture(autouse=True)
def _approval_policy_off(request):
    """Swaps are sent without approval unless a test turns a rule on (tests/devices/conftest.py).

    Without this, whether a swap needs approval would depend on the clock (working hours).
    The oceanconnect tests run without Django (`-p no:django`): there are no settings then.
    """
    if not request.config.pluginmanager.has_plugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.SWAP_APPROVAL_NEVER_EXPIRING = False
    settings.SWAP_APPROVAL_CODE_MODES = ""
    settings.SWAP_APPROVAL_REPEAT_DAYS = 0
    settings.SWAP_APPROVAL_WORKING_HOURS = ""


@pytest.fixture(autouse=True)
def _fast_password_hasher(request):
    """MD5 instead of PBKDF2: hashing a password was a noticeable share of creating a user."""
    if not request.config.pluginmanager.has_plugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _request_path_on_the_database(request):
    """Sessions and permissions read from the database on every request, as without Redis.

    With REDIS_URL (CI's first pass) production settings cache both (cached_db sessions, the
    permission cache); then a page's query count would depend on what earlier requests cached,
    and a database outage would not reach a request that finds its session in the cache. Query
    budgets (tests/query_counts.json) and outage tests need one answer on both passes; the
    tests of the caches themselves turn them on (tests/devices/test_permission_cache.py,
    tests/iotadmin/test_settings_serving.py).
    """
    if not request.config.pluginmanager.has_plugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    settings.PERMISSION_CACHE_SECONDS = 0
