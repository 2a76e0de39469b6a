"""Shared fixtures: the real local Kafka broker, real Redis, unique names per test, users by role.

`make test` (dev/test.sh) starts Apache Kafka and Redis and exports KAFKA_BOOTSTRAP_SERVERS and
REDIS_URL before pytest starts; here we only check that they answer, and fail loudly when they do
not (an integration test that silently skips is not a passing test).
"""

from __future__ import annotations

import re
import socket
import uuid
from urllib.parse import urlparse

import pytest
from django.conf import settings


def _reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The bootstrap address of the real local Kafka broker (started by `make test` / dev/test.sh)."""
    bootstrap = settings.KAFKA_BOOTSTRAP_SERVERS
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not _reachable(host, int(port)):
        pytest.fail(f"Kafka is not reachable at {bootstrap}: run the suite with `make test` (or start `make kafka`).")
    return bootstrap


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = urlparse(settings.REDIS_URL)
    if not _reachable(url.hostname or "127.0.0.1", url.port or 6379):
        pytest.fail(f"Redis is not reachable at {settings.REDIS_URL}: run the suite with `make test`.")
    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Tests create users and log in with Basic all the time; PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def unique_name(request) -> str:
    """A name no other test (or earlier run) uses: for topics, consumer groups, subjects."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-").lower()[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_user(db):
    """Build users through Django's own manager, with a role group (viewer, editor, admin)."""
    from django.contrib.auth.models import Group, User

    def make(username: str = "alice", role: str | None = "viewer", password: str = "s3cret-pass!") -> User:
        user = User.objects.create_user(username=username, password=password)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make
