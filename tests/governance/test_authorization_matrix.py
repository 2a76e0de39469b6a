"""The authorization matrix: every write endpoint and form, generated from the URL configuration, against
anonymous, a viewer, an editor of another team, an editor of the owning team, and an admin.

Every named route (the Django admin aside: it has its own staff permissions) must be listed here, either as
read-only or with the rule its writes follow, so a new endpoint without a rule fails `test_every_route_
has_a_rule`. Each (write, role) pair then runs on a fresh database: a denied role gets 401/403 (a page's
anonymous visitor is sent to the login page) and nothing else; an allowed role gets past the permission
layer (any answer but 401, 403, 404 or the login page; an empty body may well be a 400).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from catalog.models import DeclaredRelation, TeamMembership
from catalog.services import documentation
from governance.services import token_create
from monitoring.models import AlertRule
from schemas import services as registry
from schemas.external.services import external_registry_create
from tests.factories import make_cluster, make_group, make_topic

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "viewer", "other_editor", "owner_editor", "admin")
# Which roles each rule lets through.
ALLOWED = {
    "owned": {"owner_editor", "admin"},  # the object belongs to team Payments
    "editor": {"other_editor", "admin"},  # unowned things and global editor actions
    "admin": {"admin"},
    "user": {"viewer", "other_editor", "owner_editor", "admin"},  # anyone logged in (reads through POST, own data)
    # Creating what may name an owner team: global editors, and team editors (for their own team); an empty
    # body cannot tell, so both get past the permission layer (and a 400).
    "creator": {"other_editor", "owner_editor", "admin"},
}


@dataclass(frozen=True)
class Write:
    name: str
    method: str
    rule: str
    kwargs: tuple = ()
    body: str = "{}"


SUBJECT = "pay.completed-value"
WRITES = [
    # Catalog pages
    Write("catalog:topic-edit", "post", "owned", (("cluster", "local"), ("name", "pay.completed"))),
    Write("catalog:consumer-group-edit", "post", "owned", (("cluster", "local"), ("group_id", "payments-app"))),
    Write("catalog:event-type-create", "post", "creator"),
    Write("catalog:event-type-edit", "post", "owned", (("slug", "event"),)),
    Write("catalog:service-create", "post", "creator"),
    Write("catalog:service-edit", "post", "owned", (("slug", "payments"),)),
    Write("catalog:service-relation-create", "post", "owned", (("slug", "payments"),)),
    Write("catalog:relation-delete", "post", "owned", (("pk", "relation"),)),
    Write("catalog:relation-edit-reader", "post", "owned", (("pk", "relation"),)),
    Write("catalog:team-create", "post", "editor"),
    Write("catalog:team-edit", "post", "owned", (("slug", "payments"),)),
    Write("catalog:domain-create", "post", "editor"),
    Write("catalog:domain-edit", "post", "editor", (("slug", "sales"),)),
    Write("catalog:asyncapi-import", "post", "editor"),
    Write("catalog:cluster-sync", "post", "editor", (("name", "local"),)),
    Write("catalog:cluster-test-connection", "post", "editor", (("name", "local"),)),
    # Schema pages: "check" and "validate" only compute; "register" writes
    Write("schemas:subject-check", "post", "user", (("subject", SUBJECT),)),
    Write("schemas:subject-validate", "post", "user", (("subject", SUBJECT),)),
    Write("schemas:subject-register", "post", "owned", (("subject", SUBJECT),)),
    # Monitoring pages
    Write("monitoring:alert-rule-create", "post", "editor"),
    Write("monitoring:alert-rule-edit", "post", "editor", (("pk", "rule"),)),
    Write("monitoring:alert-rule-delete", "post", "editor", (("pk", "rule"),)),
    # Governance pages
    Write("governance:tokens", "post", "user"),
    Write("governance:token-revoke", "post", "user", (("pk", "own-token"),)),
    Write("governance:policies", "post", "admin"),
    Write("governance:domain-policies", "post", "admin", (("slug", "sales"),)),
    # Existing (external) registries: admins connect them, editors may ask for a sync.
    Write("schemas:external-registry-create", "post", "admin"),
    Write("schemas:external-registry-edit", "post", "admin", (("name", "legacy"),)),
    Write("schemas:external-registry-delete", "post", "admin", (("name", "legacy"),)),
    Write("schemas:external-registry-sync", "post", "editor", (("name", "legacy"),)),
    Write("api-external-registry-list", "post", "admin"),
    Write("api-external-registry-detail", "patch", "admin", (("name", "legacy"),)),
    Write("api-external-registry-detail", "delete", "admin", (("name", "legacy"),)),
    Write("api-external-registry-sync", "post", "editor", (("name", "legacy"),)),
    # The API
    Write("api-cluster-list", "post", "admin"),
    Write("api-cluster-detail", "patch", "admin", (("name", "local"),)),
    Write("api-cluster-detail", "delete", "admin", (("name", "local"),)),
    Write("api-cluster-sync", "post", "editor", (("name", "local"),)),
    Write("api-cluster-test-connection", "post", "editor", (("name", "local"),)),
    Write("api-topic-detail", "patch", "owned", (("pk", "topic"),)),
    Write("api-consumer-group-detail", "patch", "owned", (("group_id", "payments-app"),)),
    Write("api-domain-list", "post", "editor"),
    Write("api-domain-detail", "patch", "editor", (("slug", "sales"),)),
    Write("api-team-list", "post", "editor"),
    Write("api-team-detail", "patch", "owned", (("slug", "payments"),)),
    Write("api-service-list", "post", "creator"),
    Write("api-service-detail", "patch", "owned", (("slug", "payments"),)),
    Write("api-event-type-list", "post", "creator"),
    Write("api-event-type-detail", "patch", "owned", (("slug", "event"),)),
    Write("api-relation-list", "post", "owned", body='{"service": "payments"}'),  # decided by the service named
    Write("api-relation-detail", "patch", "owned", (("pk", "relation"),)),
    Write("api-relation-detail", "delete", "owned", (("pk", "relation"),)),
    Write("api-asyncapi-import", "post", "editor"),
    Write("api-alert-rule-list", "post", "editor"),
    Write("api-alert-rule-detail", "patch", "editor", (("pk", "rule"),)),
    Write("api-alert-rule-detail", "put", "editor", (("pk", "rule"),)),
    Write("api-alert-rule-detail", "delete", "editor", (("pk", "rule"),)),
    Write("api-impact", "post", "user"),
    Write("api-schema-policy", "put", "admin"),
    Write("api-schema-policy-check", "post", "user"),
    Write("api-schema-policy-domain", "put", "admin", (("slug", "sales"),)),
    Write("api-token-list", "post", "user"),
    Write("api-token-detail", "delete", "user", (("pk", "own-token"),)),
    # The registry
    Write("registry:subject-versions", "post", "owned", (("subject", SUBJECT),)),
    Write("registry:subject", "post", "user", (("subject", SUBJECT),)),  # lookup: a read through POST
    Write("registry:subject", "delete", "admin", (("subject", SUBJECT),)),
    Write("registry:subject-version", "delete", "admin", (("subject", SUBJECT), ("version", "1"))),
    Write("registry:config", "put", "admin", body='{"compatibility": "FULL"}'),
    Write("registry:config", "delete", "admin"),
    Write("registry:subject-config", "put", "owned", (("subject", SUBJECT),), '{"compatibility": "FULL"}'),
    Write("registry:subject-config", "delete", "owned", (("subject", SUBJECT),)),
    Write("registry:mode", "put", "admin", body='{"mode": "READWRITE"}'),
    Write("registry:subject-mode", "put", "owned", (("subject", SUBJECT),), '{"mode": "READWRITE"}'),
    Write("registry:subject-mode", "delete", "owned", (("subject", SUBJECT),)),
    Write("registry:compatibility", "post", "user", (("subject", SUBJECT),)),
    Write("registry:compatibility-version", "post", "user", (("subject", SUBJECT), ("version", "latest"))),
]

# Pages that only read (GET); listed so that a new page has to be classified (API views say it themselves).
READ_ONLY = {
    "home", "search", "search-suggest", "healthz", "metrics",
    "catalog:index", "catalog:topic-list", "catalog:topic-detail", "catalog:consumer-group-list",
    "catalog:consumer-group-detail", "catalog:event-type-list", "catalog:event-type-detail", "catalog:service-list",
    "catalog:service-detail", "catalog:team-list", "catalog:team-detail", "catalog:domain-list",
    "catalog:domain-detail", "catalog:asyncapi-catalog", "catalog:asyncapi-catalog-json", "catalog:service-asyncapi",
    "catalog:service-asyncapi-json", "catalog:cluster-list", "catalog:cluster-detail",
    "schemas:index", "schemas:subject-diff", "schemas:subject",
    "schemas:external-registries", "schemas:external-registry",
    "lineage:index",
    "monitoring:index", "monitoring:flows", "monitoring:latency", "monitoring:dead-letters",
    "monitoring:indexer-status",
    "monitoring:cluster-list", "monitoring:cluster-health", "monitoring:group-lag-live", "monitoring:group-lag-charts",
    "monitoring:alerts", "trace-detail", "trace-payload",
    "governance:audit-log", "governance:audit-entry",
}  # fmt: skip
# The registry's catch-all (404 for everyone), and logging in and out (open to all by nature).
NOT_ROUTES = {"registry:not-found", "login", "logout"}


def _routes(patterns=None, prefix="", namespace=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern), inner or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern.callback


def _drf_write_methods(callback) -> set[str]:
    unsafe = {"post", "put", "patch", "delete"}
    cls = getattr(callback, "cls", None)
    if cls is None:
        return set()
    actions = getattr(callback, "actions", None)
    if actions:
        return set(actions) & unsafe
    return {m for m in unsafe if hasattr(cls, m) and m in cls.http_method_names}


def test_every_route_has_a_rule():
    listed = {(w.name, w.method) for w in WRITES}
    unclassified, missing_methods = [], []
    for name, callback in _routes():
        if name.startswith("admin:") or name in NOT_ROUTES:
            continue
        is_drf = getattr(callback, "cls", None) is not None
        writes = _drf_write_methods(callback)
        if is_drf and not writes:
            continue  # an API view that only reads: DRF says so itself
        if name not in READ_ONLY and name not in {w.name for w in WRITES}:
            unclassified.append(name)
        missing_methods += [f"{m.upper()} {name}" for m in writes if (name, m) not in listed]
    assert unclassified == [], "routes without an authorization rule: add them to WRITES or READ_ONLY"
    assert missing_methods == [], "API writes without an authorization rule"


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def world(make_user):
    users = {
        "viewer": make_user("vera", "viewer"),
        "other_editor": make_user("otto", "editor"),
        "owner_editor": make_user("paula", "viewer"),
        "admin": make_user("root", "admin"),
    }
    payments = documentation.team_create(name="Payments", contact_channel="#payments")
    orders = documentation.team_create(name="Orders")
    TeamMembership.objects.create(team=payments, user=users["owner_editor"], role="editor")
    TeamMembership.objects.create(team=orders, user=users["other_editor"], role="editor")
    documentation.domain_create(name="Sales")
    cluster = make_cluster("local")
    service = documentation.service_create(name="payments", owner_team=payments)
    topic = make_topic(cluster, "pay.completed", owner_team=payments)
    event = documentation.event_type_create(
        name="PaymentCompleted", owner_team=payments, topic=topic, schema_subject=SUBJECT
    )
    make_group(cluster, "payments-app", topics=[topic], service=service)
    relation = DeclaredRelation.objects.create(service=service, direction="consumes", topic=topic)
    avro = {"type": "record", "name": "PaymentCompleted", "fields": [{"name": "id", "type": "string"}]}
    registry.subject_register_version(subject=SUBJECT, schema_text=json.dumps(avro))
    registry.config_set(subject=SUBJECT, compatibility="BACKWARD")  # so that the DELETEs find something
    registry.mode_set(subject=SUBJECT, mode="READWRITE")
    rule = AlertRule.objects.create(name="lagging", kind=AlertRule.Kind.choices[0][0], threshold=10)
    external_registry_create(name="legacy", url="http://127.0.0.1:9/registry")  # never reached: nothing syncs here
    return {"users": users, "relation": relation, "topic": topic, "rule": rule, "event": event}


def _kwargs(write: Write, world, user) -> dict:
    values = {}
    for key, value in write.kwargs:
        if value == "relation":
            value = world["relation"].pk
        elif value == "topic":
            value = world["topic"].pk
        elif value == "rule":
            value = world["rule"].pk
        elif value == "event":
            value = world["event"].slug
        elif value == "own-token":
            owner = user or world["users"]["viewer"]
            value = token_create(user=owner, name="matrix")[0].pk
        values[key] = value
    return values


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("write", WRITES, ids=lambda w: f"{w.method.upper()} {w.name}")
def test_the_matrix(write, role, world):
    user = world["users"].get(role)
    client = Client()
    if user is not None:
        client.force_login(user)
    url = reverse(write.name, kwargs=_kwargs(write, world, user))
    is_api = url.startswith(("/api/", "/registry/"))
    if is_api:
        response = getattr(client, write.method)(url, write.body, content_type="application/json")
    else:
        response = client.post(url, {})
    to_login = response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    denied = response.status_code in (401, 403) or to_login
    if role in ALLOWED[write.rule]:
        assert not denied and response.status_code != 404, (url, role, response.status_code)
    else:
        assert denied, (url, role, response.status_code)
