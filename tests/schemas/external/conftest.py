"""A second Eventscope process playing a team's existing Confluent-compatible schema registry.

It runs from its own SQLite file with its own admin login, on a free port, for the whole session:
tests write into it with confluent-kafka's SchemaRegistryClient exactly as a team's producers would,
then mirror or import it into the database under test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class SecondRegistry:
    url: str  # ends in /registry, as SchemaRegistryClient wants it
    username: str
    password: str = "second-registry-admin"

    def client(self):
        from confluent_kafka.schema_registry import SchemaRegistryClient

        return SchemaRegistryClient({"url": self.url, "basic.auth.user.info": f"{self.username}:{self.password}"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def second_registry(tmp_path_factory) -> Iterator[SecondRegistry]:
    state = tmp_path_factory.mktemp("second-registry")
    registry = SecondRegistry(url="", username="second-admin")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST_", "EVENTSCOPE_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{state / 'registry.sqlite3'}",
        DJANGO_SETTINGS_MODULE="eventscope.settings",
        DJANGO_SUPERUSER_PASSWORD=registry.password,
        DJANGO_DEBUG="false",
        EVENTSCOPE_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        # Tests log in wrongly on purpose; the login throttle counts in the shared Redis under a fixed
        # prefix that outlives the session, so without this a few runs would lock the admin out (429).
        EVENTSCOPE_LOGIN_MAX_FAILURES="1000000",
        EVENTSCOPE_LOGIN_MAX_FAILURES_PER_ADDRESS="1000000",
    )
    manage = [sys.executable, "manage.py"]
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["createsuperuser", "--noinput", "--username", registry.username, "--email", "admin@example.com"],
    ):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True)

    port = _free_port()
    log = (state / "server.log").open("w")
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 - loopback test server
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the second registry did not start; log:\n{(state / 'server.log').read_text()}")
                time.sleep(0.2)
        yield SecondRegistry(url=f"{base}/registry", username=registry.username, password=registry.password)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
