"""API token strings: how they look, how they are made and how they are stored. Pure, no Django.

A token reads `esk_<prefix>_<secret>`: the `esk_` marker lets the Basic authenticator tell a token
from a password (Confluent clients send `user:token` as Basic credentials), the 8-character prefix
is shown in lists so people can tell their tokens apart, and the secret carries 256 bits.
"""

from __future__ import annotations

import hashlib
import secrets

MARKER = "esk_"
PREFIX_LENGTH = 8


def generate() -> tuple[str, str]:
    """A new token and its prefix."""
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return f"{MARKER}{prefix}_{secrets.token_urlsafe(32)}", prefix


def looks_like_token(value: str) -> bool:
    return value.startswith(MARKER)


def digest(token: str) -> str:
    """What is stored: SHA-256 of the whole token (a high-entropy secret needs no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def prefix_of(token: str) -> str | None:
    """The prefix of a well-formed token, else None."""
    if not looks_like_token(token):
        return None
    prefix, sep, secret = token[len(MARKER) :].partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    return prefix
