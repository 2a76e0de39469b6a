"""API tokens: created once in clear, stored as a digest, used as Bearer or as Basic `user:token` (the API,
the registry through confluent-kafka's SchemaRegistryClient), capped by scope and role, expired, revoked."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Domain
from governance import tokens
from governance.models import ApiToken
from governance.services import token_create, token_revoke
from schemas.registry import authentication

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-pass!"
AVRO = '{"type": "record", "name": "OrderPlaced", "fields": [{"name": "id", "type": "string"}]}'


def bearer(clear: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


def basic(username: str, secret: str) -> APIClient:
    client = APIClient()
    encoded = base64.b64encode(f"{username}:{secret}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {encoded}")
    return client


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


# ---------------------------------------------------------------------------------------------
# Lifecycle through the service
# ---------------------------------------------------------------------------------------------
def test_a_token_is_shown_once_and_stored_as_a_digest(make_user):
    alice = make_user("alice", "editor")
    token, clear = token_create(user=alice, name="orders CI", scope="write")
    assert clear.startswith(f"esk_{token.prefix}_") and len(clear) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == tokens.digest(clear) and clear not in {stored.digest, stored.prefix, stored.name}
    assert stored.status() == "active"
    assert tokens.prefix_of(clear) == token.prefix
    assert tokens.prefix_of("esk_short_x") is None and tokens.prefix_of("password") is None


@pytest.mark.parametrize(
    ("role", "scope", "field"),
    [("viewer", "write", "scope"), ("editor", "admin", "scope"), ("viewer", "root", "scope"), ("viewer", "read", None)],
)
def test_a_token_never_has_more_than_its_users_role(make_user, role, scope, field):
    user = make_user("bob", role)
    if field is None:
        assert token_create(user=user, name="reader", scope=scope)[0].scope == scope
        return
    with pytest.raises(ValidationError) as raised:
        token_create(user=user, name="too much", scope=scope)
    assert field in raised.value.message_dict
    assert not ApiToken.objects.exists()


def test_bad_names_and_expiries_are_refused_and_nothing_is_created(make_user):
    alice = make_user("alice", "editor")
    token_create(user=alice, name="ci", scope="read")
    for kwargs, field in [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ci"}, "name"),
        ({"name": "old", "expires_at": timezone.now() - dt.timedelta(minutes=1)}, "expires_at"),
    ]:
        with pytest.raises(ValidationError) as raised:
            token_create(user=alice, scope="read", **kwargs)
        assert field in raised.value.message_dict
    assert ApiToken.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------
def test_bearer_and_basic_tokens_authenticate_and_the_scope_caps_the_role(make_user):
    admin = make_user("root", "admin")
    _, read_clear = token_create(user=admin, name="read-only", scope="read")
    _, write_clear = token_create(user=admin, name="writer", scope="write")

    me = bearer(read_clear).get("/api/v1/me/").json()
    assert me["username"] == "root" and me["role"] == "viewer" and me["can_write"] is False
    assert me["token"]["name"] == "read-only" and me["token"]["scope"] == "read"
    assert basic("root", write_clear).get("/api/v1/me/").json()["role"] == "editor"
    assert basic("root", PASSWORD).get("/api/v1/me/").json() | {"role": "admin", "token": None}

    error_of(bearer(read_clear).post("/api/v1/domains/", {"name": "Marketing"}, format="json"), 403)
    assert bearer(write_clear).post("/api/v1/domains/", {"name": "Marketing"}, format="json").status_code == 201
    # A write token of an admin acts as an editor: clusters need admin.
    cluster = {"name": "other", "bootstrap_servers": "127.0.0.1:9093"}
    error_of(bearer(write_clear).post("/api/v1/clusters/", cluster, format="json"), 403)
    assert list(Domain.objects.values_list("name", flat=True)) == ["Marketing"]


def test_wrong_unknown_expired_and_revoked_tokens_get_a_401_with_the_reason(make_user):
    alice = make_user("alice", "editor")
    make_user("mallory", "editor")
    token, clear = token_create(user=alice, name="ci", scope="write")

    error_of(basic("mallory", clear).get("/api/v1/me/"), 401)  # someone else's token
    error_of(bearer(clear[:-2] + "xx").get("/api/v1/me/"), 401)
    assert "Malformed" in error_of(bearer("esk_nope").get("/api/v1/me/"), 401)["message"]
    assert "Bearer" in error_of(APIClient(HTTP_AUTHORIZATION="Bearer a b").get("/api/v1/me/"), 401)["message"]

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert "expired" in error_of(bearer(clear).get("/api/v1/me/"), 401)["message"]
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None)
    assert bearer(clear).get("/api/v1/me/").status_code == 200
    token_revoke(token)
    assert "revoked" in error_of(bearer(clear).get("/api/v1/me/"), 401)["message"]


def test_an_inactive_users_token_stops_working(make_user):
    alice = make_user("alice", "editor")
    _, clear = token_create(user=alice, name="ci", scope="read")
    alice.is_active = False
    alice.save()
    assert "inactive" in error_of(bearer(clear).get("/api/v1/me/"), 401)["message"]


def test_tokens_over_the_api_create_list_revoke(make_user):
    make_user("alice", "viewer")
    bob = make_user("bob", "editor")
    token_create(user=bob, name="bob's", scope="read")
    alice = basic("alice", PASSWORD)

    created = alice.post("/api/v1/tokens/", {"name": "laptop", "scope": "read", "expires_in_days": 30}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["token"].startswith("esk_") and body["status"] == "active" and body["expires_at"]
    listed = alice.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["laptop"] and "token" not in listed[0]  # own tokens, never the text

    # A token cannot mint tokens, a viewer cannot have a write token, and bad input changes nothing.
    error_of(bearer(body["token"]).post("/api/v1/tokens/", {"name": "more"}, format="json"), 403)
    assert (
        "scope"
        in error_of(alice.post("/api/v1/tokens/", {"name": "w", "scope": "write"}, format="json"), 400)["detail"]
    )
    error_of(alice.post("/api/v1/tokens/", {"name": "x", "expires_in_days": 0}, format="json"), 400)
    assert ApiToken.objects.filter(user__username="alice").count() == 1

    bobs = ApiToken.objects.get(user=bob).pk
    error_of(alice.delete(f"/api/v1/tokens/{bobs}/"), 404)  # not hers
    revoked = alice.delete(f"/api/v1/tokens/{body['id']}/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    error_of(bearer(body["token"]).get("/api/v1/me/"), 401)
    error_of(APIClient().get("/api/v1/tokens/"), 401)


# ---------------------------------------------------------------------------------------------
# The registry, through confluent-kafka's own client
# ---------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_registry_credentials():
    authentication.forget_remembered_credentials()
    yield
    authentication.forget_remembered_credentials()


def registry(live_server, **auth) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": f"{live_server.url}/registry", "max.retries": 0, **auth})


def test_schema_registry_client_with_a_token_as_basic_credentials_and_as_bearer(live_server, make_user):
    bot = make_user("ci-bot", "editor")
    _, write_clear = token_create(user=bot, name="pipeline", scope="write")
    read_token, read_clear = token_create(user=bot, name="reader", scope="read")

    writer = registry(live_server, **{"basic.auth.user.info": f"ci-bot:{write_clear}"})
    schema_id = writer.register_schema("orders-value", Schema(AVRO, "AVRO"))
    assert writer.get_latest_version("orders-value").schema_id == schema_id
    writer.close()

    reader = registry(
        live_server,
        **{
            "bearer.auth.credentials.source": "STATIC_TOKEN",
            "bearer.auth.token": read_clear,
            "bearer.auth.logical.cluster": "ignored",
        },
    )
    assert reader.get_schema(schema_id).schema_str == AVRO
    with pytest.raises(SchemaRegistryError) as refused:
        reader.register_schema("orders-value", Schema(AVRO.replace("OrderPlaced", "OrderTaken"), "AVRO"))
    assert refused.value.http_status_code == 403
    reader.close()

    token_revoke(read_token)
    revoked = registry(live_server, **{"basic.auth.user.info": f"ci-bot:{read_clear}"})
    with pytest.raises(SchemaRegistryError) as unauthorized:
        revoked.get_subjects()
    assert unauthorized.value.http_status_code == 401
    revoked.close()


# ---------------------------------------------------------------------------------------------
# The page and the command
# ---------------------------------------------------------------------------------------------
def test_the_tokens_page_shows_a_new_token_once_and_revokes(make_user):
    make_user("alice", "viewer")
    client = Client()
    client.login(username="alice", password=PASSWORD)

    bad = client.post("/accounts/tokens/", {"name": "", "scope": "read", "expires_in_days": "30"})
    assert bad.status_code == 400 and b"field-errors" in bad.content
    too_much = client.post("/accounts/tokens/", {"name": "w", "scope": "write", "expires_in_days": "30"})
    assert too_much.status_code == 400 and b"needs the editor role" in too_much.content
    assert not ApiToken.objects.exists()

    created = client.post("/accounts/tokens/", {"name": "<script>x</script>", "scope": "read", "expires_in_days": ""})
    assert created.status_code == 302
    page = client.get("/accounts/tokens/").content.decode()
    token = ApiToken.objects.get()
    clear = page.split('id="new-token">')[1].split("<")[0]
    assert tokens.digest(clear) == token.digest and token.expires_at is None
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert clear not in client.get("/accounts/tokens/").content.decode()  # shown once

    strict = Client(enforce_csrf_checks=True)
    strict.login(username="alice", password=PASSWORD)
    assert strict.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 403
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.status() == "revoked"
    assert b"revoked" in client.get("/accounts/tokens/").content


def test_create_token_command_prints_only_the_token(make_user):
    make_user("deployer", "editor")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_token",
        "deployer",
        "--name",
        "deploys",
        "--scope",
        "write",
        "--expires-days",
        "7",
        stdout=out,
        stderr=err,
    )
    clear = out.getvalue().strip()
    assert bearer(clear).get("/api/v1/me/").json()["role"] == "editor"
    assert "deploys" in err.getvalue() and clear not in err.getvalue()
    for args, message in [
        (["ghost", "--name", "x"], "No user"),
        (["deployer", "--name", "deploys"], "already have"),
        (["deployer", "--name", "y", "--expires-days", "0"], "at least 1"),
        (["deployer", "--name", "z", "--scope", "admin"], "admin role"),
    ]:
        with pytest.raises(CommandError) as raised:
            call_command("create_token", *args, stdout=io.StringIO(), stderr=io.StringIO())
        assert message in str(raised.value) and raised.value.returncode == 2
    assert ApiToken.objects.count() == 1
