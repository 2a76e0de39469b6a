"""Login rate limiting on the login page and on HTTP Basic (API and registry), counted in Redis, lifted by
time; a wrong password keeps failing with 401 until the limit, then 429 / a form error, and a right password
is refused while blocked. With Redis down, logins still work (throttling is off, and says so in the log)."""

from __future__ import annotations

import base64

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from governance import throttle

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-pass!"


def basic(username: str, password: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())
    return client


@pytest.fixture
def limits(settings, redis_url):
    settings.EVENTSCOPE_LOGIN_MAX_FAILURES = 3
    settings.EVENTSCOPE_LOGIN_MAX_FAILURES_PER_ADDRESS = 6
    settings.EVENTSCOPE_LOGIN_BLOCK_SECONDS = 60
    return settings


def test_the_login_page_blocks_a_user_name_after_repeated_failures(client, make_user, limits):
    make_user("alice", "viewer")
    for _ in range(3):
        page = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert page.status_code == 200 and b"Please enter a correct username" in page.content
    blocked = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert b"Too many failed logins" in blocked.content and "_auth_user_id" not in client.session
    # Another user from the same address is not blocked (yet); the per-address limit is higher.
    make_user("bob", "viewer")
    assert client.post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status_code == 302


def test_basic_auth_is_throttled_with_429_and_counts_are_shared_through_redis(make_user, limits):
    make_user("erin", "editor")
    assert caches["throttle"].__class__.__name__ == "RedisCache"
    for _ in range(3):
        assert basic("erin", "wrong").get("/api/v1/me/").status_code == 401
    refused = basic("erin", PASSWORD).get("/api/v1/me/")
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["status"] == 429 and int(refused["Retry-After"]) > 0
    registry = basic("erin", PASSWORD).get("/registry/subjects")
    assert registry.status_code == 429 and "error_code" in registry.json()

    # The block is per user name and address: lifting it (time passing) lets the right password in.
    caches["throttle"].delete_many(list(throttle._keys("erin", "127.0.0.1")))
    assert basic("erin", PASSWORD).get("/api/v1/me/").status_code == 200


def test_many_user_names_from_one_address_hit_the_address_limit(client, make_user, limits):
    make_user("zed", "viewer")
    for n in range(6):
        client.post("/accounts/login/", {"username": f"guess-{n}", "password": "x"})
    blocked = client.post("/accounts/login/", {"username": "zed", "password": PASSWORD})
    assert b"Too many failed logins" in blocked.content


def test_with_redis_unreachable_logins_still_work(client, make_user, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    make_user("alice", "viewer")
    assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert basic("alice", PASSWORD).get("/api/v1/me/").status_code == 200
    assert "login throttling is off" in caplog.text
