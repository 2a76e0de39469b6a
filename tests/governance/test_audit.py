"""The audit log: every change appears with the right actor and channel (page, API, registry, CLI, task),
before and after, secrets masked; entries are append-only; the page and the API read and filter it."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from catalog.models import Domain
from catalog.services import documentation
from eventscope.celery import app
from governance.models import ApiToken, AuditEntry
from governance.services import token_create, token_revoke
from schemas.registry import authentication

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-pass!"
AVRO = json.dumps({"type": "record", "name": "OrderPlaced", "fields": [{"name": "id", "type": "string"}]})


def as_user(username: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode())
    return client


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


@pytest.fixture(autouse=True)
def _fresh_registry_credentials():
    authentication.forget_remembered_credentials()
    yield
    authentication.forget_remembered_credentials()


def test_api_changes_are_logged_with_the_user_and_before_and_after(make_user):
    make_user("erin", "editor")
    erin = as_user("erin")
    created = erin.post("/api/v1/domains/", {"name": "Fulfilment", "description": "Ships."}, format="json").json()
    erin.patch(f"/api/v1/domains/{created['slug']}/", {"description": "Ships parcels."}, format="json")

    create, update = entries(object_type="catalog.Domain")
    assert (create.action, create.actor_name, create.channel, create.before) == ("create", "erin", "api", None)
    assert create.after["name"] == "Fulfilment" and create.actor.username == "erin"
    assert create.request_method == "POST" and create.request_path == "/api/v1/domains/"
    assert update.action == "update" and update.changed == ["description"]
    assert (update.before["description"], update.after["description"]) == ("Ships.", "Ships parcels.")

    # A refused write (viewer) and a no-op save leave no entry.
    make_user("vera", "viewer")
    as_user("vera").post("/api/v1/domains/", {"name": "Nope"}, format="json")
    Domain.objects.get(slug=created["slug"]).save()
    assert len(entries(object_type="catalog.Domain")) == 2


def test_page_changes_are_logged_as_page(client, make_user):
    make_user("erin", "editor")
    documentation.service_create(name="orders")
    client.login(username="erin", password=PASSWORD)
    response = client.post("/catalog/services/orders/edit/", {"name": "orders", "description": "Takes orders."})
    assert response.status_code == 302, response.content
    [update] = entries(object_type="catalog.Service", action="update")
    assert (update.actor_name, update.channel, update.changed) == ("erin", "page", ["description"])


def test_registry_changes_and_soft_deletes_are_logged_as_registry(client, make_user):
    make_user("erin", "admin")
    erin = as_user("erin")
    ct = "application/vnd.schemaregistry.v1+json"
    assert erin.post("/registry/subjects/orders-value/versions", {"schema": AVRO}, format="json").status_code == 200
    assert erin.delete("/registry/subjects/orders-value", HTTP_ACCEPT=ct).status_code == 200

    subject_entries = entries(object_type="schemas.Subject")
    version_entries = entries(object_type="schemas.SubjectVersion")
    assert [e.action for e in subject_entries][:1] == ["create"]
    assert [(e.action, e.channel, e.actor_name) for e in version_entries] == [
        ("create", "registry", "erin"),
        ("update", "registry", "erin"),
    ]
    assert version_entries[1].changed == ["deleted_at"] and version_entries[1].before["deleted_at"] is None


def test_cli_and_task_changes_name_their_origin(make_user, monkeypatch):
    make_user("deployer", "editor")
    monkeypatch.setattr("sys.argv", ["manage.py", "create_token"])
    call_command("create_token", "deployer", "--name", "ci", stdout=io.StringIO(), stderr=io.StringIO())
    [created] = entries(object_type="governance.ApiToken")
    assert created.channel == "cli" and "manage.py create_token" in created.actor_name and created.actor is None

    domain = documentation.domain_create(name="Sales")
    result = rename_domain.apply(args=[domain.pk, "Sales & Marketing"])
    assert result.successful()
    [renamed] = entries(object_type="catalog.Domain", action="update")
    assert (renamed.channel, renamed.actor_name) == ("task", "tests.audit.rename_domain")


@app.task(name="tests.audit.rename_domain")
def rename_domain(pk: int, name: str) -> None:
    domain = Domain.objects.get(pk=pk)
    domain.name = name
    domain.save()


def test_secrets_are_masked_and_token_revocation_is_logged(make_user):
    make_user("root", "admin")
    root = as_user("root")
    body = {
        "name": "secured",
        "bootstrap_servers": "127.0.0.1:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN",
        "sasl_username": "svc",
        "sasl_password": "hunter2-p4ss",
    }
    assert root.post("/api/v1/clusters/", body, format="json").status_code == 201
    root.patch("/api/v1/clusters/secured/", {"sasl_password": "changed-p4ss"}, format="json")
    cluster_entries = entries(object_type="catalog.Cluster", object_repr="secured")
    assert cluster_entries[0].after["sasl_password_encrypted"] == "••••••"
    assert cluster_entries[-1].changed == ["sasl_password_encrypted"]
    everything = json.dumps([e.before for e in cluster_entries] + [e.after for e in cluster_entries])
    assert "hunter2" not in everything and "changed-p4ss" not in everything

    token, clear = token_create(user=make_user("bob", "viewer"), name="laptop")
    token_revoke(token)
    create, revoke = entries(object_type="governance.ApiToken")
    assert create.after["digest"] == "••••••" and clear not in json.dumps(create.after)
    assert revoke.action == "revoke" and revoke.changed == ["revoked_at"]
    assert ApiToken.objects.get().status() == "revoked"


def test_entries_are_append_only(make_user):
    documentation.domain_create(name="Sales")
    entry = AuditEntry.objects.get(object_type="catalog.Domain")
    entry.action = "forged"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    # Below the ORM, the database refuses too (DELETE on PostgreSQL; UPDATE on both).
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE governance_auditentry SET action = 'forged' WHERE id = %s", [entry.pk])
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM governance_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "create"


def test_the_api_and_page_filter_the_log_and_write_nothing(client, make_user):
    make_user("erin", "editor")
    make_user("vera", "viewer")
    erin = as_user("erin")
    for name in ("Sales", "Fulfilment"):
        erin.post("/api/v1/domains/", {"name": name}, format="json")
    documentation.team_create(name="Ops")

    vera = as_user("vera")
    listed = vera.get("/api/v1/audit-log/", {"actor": "erin", "channel": "api"}).json()
    assert [e["object_repr"] for e in listed["results"]] == ["Fulfilment", "Sales"]
    first = listed["results"][-1]
    assert vera.get(f"/api/v1/audit-log/{first['id']}/").json()["after"]["name"] == "Sales"
    assert vera.get("/api/v1/audit-log/", {"q": "Ops"}).json()["count"] == 1
    assert vera.get("/api/v1/audit-log/", {"since": "not a date"}).status_code == 400
    assert vera.post("/api/v1/audit-log/", {}, format="json").status_code == 405
    assert vera.delete(f"/api/v1/audit-log/{first['id']}/").status_code == 405
    assert APIClient().get("/api/v1/audit-log/").status_code == 401

    client.login(username="vera", password=PASSWORD)
    page = client.get("/governance/audit-log/", {"actor": "erin"}).content.decode()
    assert "Fulfilment" in page and "Ops" not in page
    detail = client.get(f"/governance/audit-log/{first['id']}/").content.decode()
    assert "Sales" in detail and "changed" in detail
    bad = client.get("/governance/audit-log/", {"since": "yesterday-ish"})
    assert bad.status_code == 400 and b"not valid" in bad.content
    assert client.post("/governance/audit-log/").status_code == 405


def test_time_filters_take_any_offset_and_query_in_utc(make_user):
    # Found by schemathesis on PostgreSQL: an offset of +20:15 is valid ISO 8601 but not a PostgreSQL literal.
    make_user("vera", "viewer")
    documentation.domain_create(name="Sales")
    vera = as_user("vera")
    wide = vera.get("/api/v1/audit-log/", {"since": "0195-11-09T18:12:30.50Z", "until": "6899-12-23T00:05:46+20:15"})
    assert wide.status_code == 200 and wide.json()["count"] >= 1
    assert vera.get("/api/v1/audit-log/", {"since": "0001-01-01T00:00:00+05:00"}).json()["count"] == 0
