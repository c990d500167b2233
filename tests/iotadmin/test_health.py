"""/healthz (liveness, no database) and /readyz (every dependency, 503 naming what failed)."""

import time

import pytest

from iotadmin.heartbeats import (
    BEAT,
    WORKER,
    beat_alive,
    heartbeat_forget,
    heartbeat_record,
    workers_alive,
)


def test_healthz_answers_ok_without_the_database(client):
    response = client.get("/healthz")  # no django_db mark: a query would raise
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_when_worker_and_beat_are_alive(client):
    heartbeat_record(role=WORKER, hostname="celery@web1")
    heartbeat_record(role=BEAT, hostname="beat@web1")

    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {
        "database",
        "broker",
        "store",
        "workers",
        "beat",
        "platform_token",
        "flow_limiter",
    }
    assert all(check["status"] != "fail" for check in body["checks"].values())
    assert body["checks"]["workers"]["hostnames"] == ["celery@web1"]


@pytest.mark.django_db
def test_readyz_without_a_worker_heartbeat_is_503_naming_the_workers(client):
    heartbeat_record(role=BEAT, hostname="beat@web1")

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["workers"]["status"] == "fail"
    assert body["checks"]["workers"]["detail"] == "no Celery worker is alive"
    assert body["checks"]["beat"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_with_a_stale_beat_heartbeat_is_503(client, settings):
    heartbeat_record(role=WORKER, hostname="celery@web1")
    heartbeat_record(
        role=BEAT, hostname="beat@web1", now=time.time() - settings.HEARTBEAT_MAX_AGE_SECONDS - 1
    )

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["status"] == "fail"


@pytest.mark.django_db
def test_readyz_with_an_unreachable_store_names_its_error_type_only(client, settings):
    heartbeat_record(role=WORKER, hostname="celery@web1")
    heartbeat_record(role=BEAT, hostname="beat@web1")
    settings.REDIS_URL = "redis://:hunter2@127.0.0.1:1/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    store = response.json()["checks"]["store"]
    assert store["status"] == "fail"
    assert store["error"] == "ConnectionError"
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_reports_the_flow_limiter_and_token_without_secrets(client, settings):
    heartbeat_record(role=WORKER, hostname="celery@web1")
    heartbeat_record(role=BEAT, hostname="beat@web1")

    body = client.get("/readyz").content.decode()

    assert settings.IOT_APP_SECRET not in body
    assert settings.IOT_PUSH_SECRET not in body
    assert f'"limit": {settings.IOT_FLOW_LIMIT_PER_MINUTE}' in body


@pytest.mark.django_db
def test_workers_alive_ignores_old_heartbeats_and_forgotten_workers(settings):
    now = time.time()
    heartbeat_record(role=WORKER, hostname="fresh", now=now)
    heartbeat_record(role=WORKER, hostname="old", now=now - settings.HEARTBEAT_MAX_AGE_SECONDS - 5)
    heartbeat_record(role=WORKER, hostname="stopped", now=now)
    heartbeat_forget(role=WORKER, hostname="stopped")

    assert [beat.hostname for beat in workers_alive(now=now)] == ["fresh"]
    assert beat_alive(now=now) == []


@pytest.mark.django_db
def test_a_heartbeat_is_one_row_per_process():
    heartbeat_record(role=WORKER, hostname="celery@a", now=1.0)
    heartbeat_record(role=WORKER, hostname="celery@a", now=2.0)
    seen = workers_alive(now=2.0)
    assert [(beat.hostname, beat.seen_at) for beat in seen] == [("celery@a", 2.0)]


def test_heartbeats_on_redis(settings, require_redis):
    import uuid

    settings.REDIS_URL = require_redis
    settings.IOT_STORE_PREFIX = f"test:{uuid.uuid4().hex}:"
    now = time.time()
    heartbeat_record(role=WORKER, hostname="celery@r1", now=now)
    heartbeat_record(role=WORKER, hostname="celery@r2", now=now - 3600)
    try:
        assert [beat.hostname for beat in workers_alive(now=now)] == ["celery@r1"]
    finally:
        heartbeat_forget(role=WORKER, hostname="celery@r1")
        heartbeat_forget(role=WORKER, hostname="celery@r2")
    assert workers_alive(now=now) == []


def test_health_urls_need_no_login_and_skip_the_tls_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_writes_its_heartbeat_and_forgets_it_on_shutdown(celery_worker_process):
    from tests.support.worker import _stop, wait_for

    alive = wait_for(workers_alive, timeout=30)
    assert alive[0].hostname.startswith("test-")

    _stop(celery_worker_process.process)
    assert workers_alive() == []


@pytest.mark.django_db(transaction=True)  # beat closes its old connections after a heartbeat
def test_beat_records_its_heartbeat_when_it_ticks(tmp_path):
    from iotadmin.celery import PersistentScheduler, app

    scheduler = PersistentScheduler(
        app=app, schedule_filename=str(tmp_path / "schedule"), lazy=False
    )
    try:
        scheduler.tick()
    finally:
        scheduler.close()
    assert [beat.hostname.split("@")[0] for beat in beat_alive()] == ["beat"]
