"""Project-wide Celery tasks: the worker heartbeat that shows the worker and beat are alive."""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

HEARTBEAT_KEY = "eventscope:worker:heartbeat"


def worker_heartbeat_age_s() -> float | None:
    """Seconds since a worker last ran the heartbeat task, or None if never (or Redis is down)."""
    try:
        value = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).get(HEARTBEAT_KEY)
    except redis.RedisError:
        return None
    return None if value is None else max(0.0, time.time() - float(value))


@shared_task(name="eventscope.heartbeat", ignore_result=True)
def heartbeat() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5).set(HEARTBEAT_KEY, str(time.time()), ex=3600)
