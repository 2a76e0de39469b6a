"""Login rate limiting: too many failed logins for one user name from one address, or from one address
overall, block further attempts for a while. Counted for the login page and for HTTP Basic (API and
registry), through Django's `user_login_failed` signal, in the Redis-backed "throttle" cache so every
web process sees the same counts.

If Redis is unreachable, logins are not throttled (and a warning is logged): a broken cache must not
lock every user out.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import InvalidCacheBackendError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

__all__ = ["client_address", "login_blocked_for", "record_failure", "record_success"]


def _cache():
    return caches["throttle"]


def _limits() -> tuple[int, int, int]:
    return (
        settings.EVENTSCOPE_LOGIN_MAX_FAILURES,
        settings.EVENTSCOPE_LOGIN_MAX_FAILURES_PER_ADDRESS,
        settings.EVENTSCOPE_LOGIN_BLOCK_SECONDS,
    )


def client_address(request) -> str:
    return (getattr(request, "META", {}) or {}).get("REMOTE_ADDR", "") or "unknown"


def _keys(username: str, address: str) -> tuple[str, str]:
    user_key = hashlib.sha256(f"{username.lower()}\0{address}".encode()).hexdigest()
    return f"login-fail:user:{user_key}", f"login-fail:addr:{address}"


def _safely(operation, default):
    try:
        return operation()
    except (RedisError, OSError, InvalidCacheBackendError) as exc:
        logger.warning("login throttling is off: its cache is not reachable (%s)", exc)
        return default


def login_blocked_for(username: str, address: str) -> int:
    """Seconds until this user name may try again from this address (0: go ahead)."""
    per_user, per_address, block = _limits()
    user_key, address_key = _keys(username or "", address)

    def check() -> int:
        counts = _cache().get_many([user_key, address_key])
        if counts.get(user_key, 0) >= per_user or counts.get(address_key, 0) >= per_address:
            return block
        return 0

    return _safely(check, 0)


def record_failure(username: str, address: str) -> None:
    _, _, block = _limits()

    def count() -> None:
        cache = _cache()
        for key in _keys(username or "", address):
            cache.add(key, 0, timeout=block)
            cache.incr(key)

    _safely(count, None)


def record_success(username: str, address: str) -> None:
    user_key, _ = _keys(username or "", address)
    _safely(lambda: _cache().delete(user_key), None)


def on_login_failed(sender, credentials=None, request=None, **kwargs) -> None:
    username = (credentials or {}).get("username", "")
    record_failure(username, client_address(request))
