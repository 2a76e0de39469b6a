"""The Celery app on the real Redis broker: a task sent by the web side runs in a real worker."""

from __future__ import annotations

import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from eventscope.celery import app
from eventscope.tasks import HEARTBEAT_KEY, heartbeat, worker_heartbeat_age_s

pytestmark = pytest.mark.redis


def test_broker_is_the_configured_redis(redis_url):
    assert app.conf.broker_url == redis_url
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "worker-heartbeat" in app.conf.beat_schedule


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_through_redis_runs_in_a_worker(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete(HEARTBEAT_KEY)
    assert worker_heartbeat_age_s() is None

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        heartbeat.delay()
        deadline = time.monotonic() + 20
        while client.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline:
            time.sleep(0.1)

    age = worker_heartbeat_age_s()
    assert age is not None and age < 30


def test_heartbeat_age_is_none_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert worker_heartbeat_age_s() is None


@pytest.mark.django_db
def test_home_page_shows_whether_the_workers_are_alive(client, make_user, redis_url):
    client.force_login(make_user())
    store = redis.Redis.from_url(redis_url)
    store.delete(HEARTBEAT_KEY)
    assert "not seen" in client.get("/").content.decode()
    store.set(HEARTBEAT_KEY, str(time.time() - 5))
    assert "running</span>, last heartbeat 5 s ago" in client.get("/").content.decode()


def test_beat_signals_ask_for_a_stop_between_ticks_and_a_later_one_exits(monkeypatch):
    """Beat's TERM / INT handler does no database work where the signal lands (see the chaos test for the hang)."""
    from celery import beat

    import eventscope.celery as celery_module

    installed = {}
    monkeypatch.setattr(celery_module.platforms.signals, "update", lambda **handlers: installed.update(handlers))
    service = beat.Service(app)
    celery_module.stop_beat_between_ticks(sender=service)
    handler = installed["SIGTERM"]
    assert installed["SIGINT"] is handler

    handler(15, None)
    assert service._is_shutdown.is_set()
    handler(2, None)  # the same stop (Ctrl-C and a supervisor's TERM together): no exit from the handler
    now = time.monotonic()
    monkeypatch.setattr(celery_module.time, "monotonic", lambda: now + celery_module.FORCE_AFTER_S + 0.1)
    with pytest.raises(SystemExit):
        handler(2, None)  # asked again later: at once
