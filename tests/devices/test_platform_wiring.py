"""The project's wiring of the oceanconnect client: settings, the database store, processes
built from settings, and the demo's simulator call through the client."""

import socket
import tempfile
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from devices.demo import DemoRefused, demo_plug_in_unit
from devices.models import SwapState
from devices.platform_db_store import DatabaseStore
from devices.platform_wiring import build_client, build_store, get_client, reset_client
from oceanconnect import PlatformClient, RedisStore
from tests.devices.platform_processes import DJANGO_WORKER, database_url, django_worker_env
from tests.factories import SwapFactory, UserFactory
from tests.oceanconnect.processes import start_workers
from tests.oceanconnect.test_multiprocess import (
    a_device,
    logins,
    many_threads_log_in_once_and_log_in_again_once,
    max_calls_in_any_window,
    platform_calls,
)
from tests.oceanconnect.test_stores import SharedStoreContract

NEW_NODE_ID = "862177041314827"


# --- the database store keeps the shared-store contract -----------------------------------


@pytest.mark.django_db(transaction=True)
class TestDatabaseStore(SharedStoreContract):
    @pytest.fixture
    def store(self, clock):
        db_store = DatabaseStore(f"test:{uuid.uuid4().hex}:", clock=clock)
        yield db_store
        db_store.clear()

    def thread_finished(self):
        connection.close()


# --- which store and client the settings give ---------------------------------------------


def test_the_store_is_redis_when_redis_url_is_set_else_the_database():
    redis = build_store(
        SimpleNamespace(REDIS_URL="redis://127.0.0.1:6379/7", IOT_STORE_PREFIX="p:")
    )
    assert isinstance(redis, RedisStore) and redis.prefix == "p:"
    redis.close()
    database = build_store(SimpleNamespace(REDIS_URL="", IOT_STORE_PREFIX="q:"))
    assert isinstance(database, DatabaseStore) and database.prefix == "q:"


def test_build_client_reads_the_given_settings_or_djangos(settings):
    settings.REDIS_URL = ""
    settings.IOT_PLATFORM_URL = "http://platform.example:8743/"
    client = build_client()
    assert isinstance(client, PlatformClient)
    assert client.config.base_url == "http://platform.example:8743"
    assert isinstance(client.store, DatabaseStore)
    client.close()
    other = build_client(SimpleNamespace(IOT_PLATFORM_URL="http://other:1", IOT_APP_ID="x"))
    assert (other.config.base_url, other.config.app_id) == ("http://other:1", "x")
    other.close()


def test_get_client_is_one_per_process_until_reset(settings):
    settings.REDIS_URL = ""
    reset_client()
    first = get_client()
    assert get_client() is first
    reset_client()
    second = get_client()
    assert second is not first
    reset_client()


@pytest.mark.django_db(transaction=True)
def test_get_client_calls_the_platform_and_its_slots_are_in_the_database(sim, platform_settings):
    platform_settings.REDIS_URL = ""
    reset_client()
    client = get_client()
    device_id = a_device(sim)
    assert client.activation_status(device_id).device_id == device_id
    usage = client.flow_usage()
    assert (usage.used, usage.limit, usage.seconds_until_free) == (2, 90, 0.0)  # login + call
    assert isinstance(client.store, DatabaseStore)


# --- processes that build their client from settings ---------------------------------------


@pytest.fixture(
    params=[
        pytest.param("database", marks=pytest.mark.django_db(transaction=True)),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def store_env(request):
    """Environment for worker processes sharing the database store or a Redis store."""
    var_dir = tempfile.mkdtemp(prefix="iotadmin-platform-")
    if request.param == "database":
        return {
            "database": database_url(connection.settings_dict),
            "redis_url": "",
            "var_dir": var_dir,
        }
    url = request.getfixturevalue("require_redis")
    return {"database": f"sqlite:///{var_dir}/unused.sqlite3", "redis_url": url, "var_dir": var_dir}


def test_many_threads_in_three_processes_log_in_once_and_log_in_again_once(sim, store_env):
    sim.flow_limit(1000)  # this test is about tokens, not flow control
    env = django_worker_env(
        platform_url=sim.url,
        app_id=sim.app_id,
        app_secret=sim.app_secret,
        flow_limit=1000,
        **store_env,
    )
    # Each thread holds a database connection of its own (the store's): 3 x 10 stays well under
    # PostgreSQL's default 100 connections, which the rest of the run shares.
    many_threads_log_in_once_and_log_in_again_once(sim, env=env, module=DJANGO_WORKER, threads=10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_three_hundred_calls_from_three_processes_stay_under_the_platform_limit(sim):
    """300 calls (one login + 299 API calls) against a platform limit of 100 per minute."""
    var_dir = tempfile.mkdtemp(prefix="iotadmin-platform-")
    redis = settings.REDIS_URL
    env = django_worker_env(
        platform_url=sim.url,
        app_id=sim.app_id,
        app_secret=sim.app_secret,
        flow_limit=100,
        database=database_url(connection.settings_dict),
        redis_url=redis or "",
        var_dir=var_dir,
    )
    sim.flow_limit(100)
    device_id = a_device(sim)
    with start_workers(3, threads=5, env=env, module=DJANGO_WORKER) as workers:
        reports = workers.round([100, 100, 99], device_id)
    assert [r["errors"] for r in reports] == [[], [], []]
    assert sum(r["ok"] for r in reports) == 299
    calls = platform_calls(sim)
    assert len(calls) == 300
    assert logins(sim) == 1
    assert [c for c in calls if c["code"] == "1010009"] == []
    assert max_calls_in_any_window([c["time"] for c in calls]) <= 100


# --- demo mode: the simulator's bind goes through the client -----------------------------


def closed_port():
    """A port nothing listens on (taken from the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def issued_swap(sim, *, verify_code=None):
    """A swap whose code the platform (the simulator) really issued for NEW_NODE_ID."""
    device_id = a_device(sim)
    result = get_client().refresh_device_key(
        device_id, node_id=NEW_NODE_ID, verify_code=verify_code, timeout=300
    )
    user = UserFactory(field_service=True)
    swap = SwapFactory(
        issued=True,
        requested_by=user,
        new_node_id=NEW_NODE_ID,
        verify_code=result.verify_code,
        code_expires_at=timezone.now() + timedelta(seconds=300),
    )
    return swap, user, device_id


@pytest.mark.django_db(transaction=True)
def test_demo_plug_in_binds_the_unit_through_the_client(sim, platform_settings):
    platform_settings.IOT_DEMO_MODE = True
    swap, user, device_id = issued_swap(sim)
    demo_plug_in_unit(swap=swap, actor=user)
    device = sim.device(device_id)
    assert (device["nodeId"], device["status"]) == (NEW_NODE_ID, "ONLINE")
    usage = get_client().flow_usage()
    assert usage.used == 2  # login + refreshDeviceKey: the bind took no flow-limit slot


@pytest.mark.django_db(transaction=True)
def test_demo_refusal_names_the_reason_but_never_the_code(sim, platform_settings):
    platform_settings.IOT_DEMO_MODE = True
    swap, user, _device_id = issued_swap(sim, verify_code="ABCD1234")
    sim.expire_bindings()
    with pytest.raises(DemoRefused) as caught:
        demo_plug_in_unit(swap=swap, actor=user)
    assert caught.value.message.startswith("The simulator refused to connect the unit: ")
    assert "ABCD1234" not in caught.value.message
    assert swap.state == SwapState.CODE_ISSUED


@pytest.mark.django_db(transaction=True)
def test_demo_without_a_simulator_says_it_did_not_answer(sim, platform_settings):
    platform_settings.IOT_DEMO_MODE = True
    swap, user, _device_id = issued_swap(sim)
    platform_settings.IOT_PLATFORM_URL = f"http://127.0.0.1:{closed_port()}"
    platform_settings.IOT_CONNECT_TIMEOUT = 0.5
    reset_client()
    with pytest.raises(DemoRefused) as caught:
        demo_plug_in_unit(swap=swap, actor=user)
    assert "did not answer" in caught.value.message


def test_the_wired_client_seals_cached_tokens_with_the_code_keys(settings):
    from devices.platform_wiring import token_cipher

    settings.IOT_CODE_ENCRYPTION_KEY = "token-sealing-passphrase"
    cipher = token_cipher()
    sealed = cipher.encrypt('{"access_token": "abc-123"}')
    assert "abc-123" not in sealed
    assert cipher.decrypt(sealed) == '{"access_token": "abc-123"}'
    assert build_client(settings).tokens._cipher is not None
