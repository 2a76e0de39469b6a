"""HTTP Basic for the registry, with verified credentials remembered in-process for a few seconds.

Confluent's clients send `Authorization: Basic` on every request, and checking a Django password
hash (PBKDF2, about a million iterations) costs a few hundred milliseconds: far too much for a
schema lookup that should take one. So a successful check is remembered under an HMAC of the
credentials (nothing of the password itself is kept):

- for REUSE_SECONDS the remembered user is answered without touching the database;
- after that, the user row is read again (no hashing): a deactivated user is refused, and a
  changed password (a new stored hash) no longer matches, so such changes apply within
  REUSE_SECONDS on every worker. Roles are read fresh on each write (`user_can_write`).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model

from governance.authentication import BasicOrTokenAuthentication
from governance.tokens import looks_like_token

__all__ = ["REUSE_SECONDS", "RegistryBasicAuthentication", "forget_remembered_credentials"]

REUSE_SECONDS = 5.0
_MAX_REMEMBERED = 4096


@dataclass
class _Remembered:
    user: object
    password_hash: str
    checked_at: float


_remembered: dict[bytes, _Remembered] = {}
_remembered_lock = threading.Lock()


def forget_remembered_credentials() -> None:
    """Forget every remembered credential (tests that change passwords or users)."""
    with _remembered_lock:
        _remembered.clear()


class RegistryBasicAuthentication(BasicOrTokenAuthentication):
    www_authenticate_realm = "schema-registry"

    def authenticate_credentials(self, userid, password, request=None):
        if looks_like_token(password):  # one indexed lookup, no hashing to save: nothing to remember
            return super().authenticate_credentials(userid, password, request)
        key = hmac.new(settings.SECRET_KEY.encode(), f"{userid}\0{password}".encode(), hashlib.sha256).digest()
        remembered = _remembered.get(key)
        now = time.monotonic()
        if remembered is not None:
            if now - remembered.checked_at < REUSE_SECONDS:
                return (remembered.user, None)
            user = get_user_model()._default_manager.filter(pk=remembered.user.pk, is_active=True).first()
            if user is not None and user.get_username() == userid and user.password == remembered.password_hash:
                self._remember(key, _Remembered(user, user.password, now))
                return (user, None)
        user, auth = super().authenticate_credentials(userid, password, request)
        self._remember(key, _Remembered(user, user.password, now))
        return (user, auth)

    @staticmethod
    def _remember(key: bytes, entry: _Remembered) -> None:
        with _remembered_lock:
            if len(_remembered) >= _MAX_REMEMBERED and key not in _remembered:
                _remembered.clear()  # crude but bounded: the next requests simply check again
            _remembered[key] = entry
