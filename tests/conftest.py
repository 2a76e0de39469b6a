"""Shared fixtures: the real local Kafka broker, real Redis, unique names per test, users by role.

`make test` (dev/test.sh) starts Apache Kafka and Redis and exports KAFKA_BOOTSTRAP_SERVERS and
REDIS_URL before pytest starts; here we only check that they answer, and fail loudly when they do
not (an integration test that silently skips is not a passing test).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The bootstrap address of the real local Kafka broker (started by `make test` / dev/with-services.sh)."""
    bootstrap = settings.KAFKA_BOOTSTRAP_SERVERS
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not _reachable(host, int(port)):
        pytest.fail(f"Kafka is not reachable at {bootstrap}: run the suite with `make test` (or start `make kafka`).")
    return bootstrap


@pytest.fixture(scope="session")
def secure_kafka():
    """The secured listeners of the test broker (`dev/kafka.sh start --secure`), from the secure.env file that
    EVENTSCOPE_TEST_KAFKA_SECURE_ENV names; `make test` starts such a broker and sets it."""
    from tests.secure_kafka import SecureKafka

    path = os.environ.get("EVENTSCOPE_TEST_KAFKA_SECURE_ENV")
    how = (
        "run the suite with `make test`, or start a broker with secured listeners and point the tests at it: "
        "EVENTSCOPE_KAFKA_DIR=/tmp/kafka-secure dev/kafka.sh start --secure; "
        "export EVENTSCOPE_TEST_KAFKA_SECURE_ENV=/tmp/kafka-secure/secure.env"
    )
    if not path:
        pytest.fail(f"EVENTSCOPE_TEST_KAFKA_SECURE_ENV is not set: {how}")
    if not Path(path).is_file():
        pytest.fail(f"EVENTSCOPE_TEST_KAFKA_SECURE_ENV names {path}, which does not exist (broker stopped?): {how}")
    secure = SecureKafka.from_env_file(Path(path))
    host, _, port = secure.sasl_ssl_bootstrap.rpartition(":")
    if not _reachable(host, int(port)):
        pytest.fail(f"the secured Kafka listener {secure.sasl_ssl_bootstrap} of {path} does not answer: {how}")
    return secure


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


@pytest.fixture(autouse=True)
def _fresh_login_throttle(settings):
    # Failed-login counts would otherwise outlive the test in Redis (tests log in wrongly on purpose, all
    # from 127.0.0.1): each test counts in a fresh Redis key space. tests/governance/test_throttle.py
    # covers the throttle itself.
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "KEY_PREFIX": f"eventscope-test-throttle-{uuid.uuid4().hex}"},
    }


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


@pytest.fixture
def viewer(client, make_user):
    """A test client logged in as a viewer (vera)."""
    client.force_login(make_user("vera", "viewer"))
    return client


# ---------------------------------------------------------------------------------------------
# A real browser: Playwright driving Debian's Chromium (Playwright's own browser download is not used)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
    # thread with a running loop unless told that this is safe, which it is for tests.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
