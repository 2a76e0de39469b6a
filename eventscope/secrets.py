"""Secrets at rest: Fernet (AES-128-CBC + HMAC) from `cryptography`, with key rotation.

Keys come from EVENTSCOPE_SECRETS_KEYS (comma-separated Fernet keys, newest first: encrypt with
the first, decrypt with any) or, when unset, one key derived from DJANGO_SECRET_KEY with HKDF, so
a default installation works without extra configuration.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

__all__ = ["SecretDecryptionError", "decrypt_secret", "encrypt_secret"]


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured keys (they changed or it was tampered with)."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"eventscope-secrets-v1", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [key.encode() for key in keys] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(key) for key in material])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.EVENTSCOPE_SECRETS_KEYS), settings.SECRET_KEY)


def encrypt_secret(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("a stored secret cannot be decrypted with the configured keys") from exc
