"""Schema policies: each rule on its own (pure), layering and validation of settings, and enforcement when a
version is registered through the registry (an error blocks with 422 naming the rule; a warning does not)."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ValidationError

from catalog.services import documentation
from governance import policies
from governance.models import SchemaPolicy
from governance.policies import ERROR, WARNING, evaluate, merge_rules, validate_rules
from governance.services import effective_policy_rules, schema_policy_check, schema_policy_set
from schemas import selectors
from schemas.compatibility import ParsedSchema, SchemaType
from schemas.models import SubjectVersion
from schemas.registry import authentication
from tests.factories import make_cluster, make_topic

CT = "application/vnd.schemaregistry.v1+json"
ALL_OFF = {name: {"enabled": False} for name in policies.DEFAULT_RULES}


def avro(*fields: dict, name: str = "OrderPlaced", **record) -> ParsedSchema:
    return ParsedSchema(SchemaType.AVRO, json.dumps({"type": "record", "name": name, "fields": list(fields), **record}))


def field(name: str, type_: object = "string", doc: str | None = "Documented.", **extra) -> dict:
    return {"name": name, "type": type_, **({"doc": doc} if doc else {}), **extra}


ENVELOPE = [field(n) for n in ("event_id", "event_type", "schema_version", "occurred_at", "correlation_id")]


def only(rule: str, **settings) -> dict:
    return merge_rules(ALL_OFF, {rule: {"enabled": True, **settings}})


def check(rule: str, schema: ParsedSchema, *, subject: str = "shop.orders.placed-value", previous=None, **settings):
    return evaluate(subject=subject, schema=schema, previous=previous, rules=only(rule, **settings))


# ---------------------------------------------------------------------------------------------
# The rules (pure)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "ok"),
    [("shop.orders.placed-value", True), ("shop.orders.placed-key", True), ("Orders", False), ("orders-values", False)],
)
def test_subject_naming(subject, ok):
    found = check("subject-naming", avro(*ENVELOPE), subject=subject)
    assert (found == []) is ok
    if not ok:
        assert found[0].rule == "subject-naming" and subject in found[0].message


@pytest.mark.parametrize(
    ("schema", "violations"),
    [
        (avro(*ENVELOPE, name="OrderPlaced"), 0),
        (avro(*ENVELOPE, name="order_placed"), 1),
        (avro(*ENVELOPE, name="shop.orders.OrderPlaced"), 0),  # the simple name counts
        (ParsedSchema(SchemaType.JSON, json.dumps({"title": "orderPlaced", "type": "object"})), 1),
        (ParsedSchema(SchemaType.JSON, json.dumps({"type": "object"})), 0),  # no title: nothing to check
        (ParsedSchema(SchemaType.PROTOBUF, 'syntax = "proto3";\nmessage order_placed { string id = 1; }'), 1),
    ],
)
def test_record_naming(schema, violations):
    assert len(check("record-naming", schema)) == violations


def test_envelope_fields_name_each_missing_part_and_accept_any_alias():
    assert check("envelope-fields", avro(*ENVELOPE)) == []
    camel = avro(*(field(n) for n in ("eventId", "eventType", "version", "timestamp", "correlationId")))
    assert check("envelope-fields", camel) == []
    [violation] = check("envelope-fields", avro(field("event_id"), field("occurred_at")))
    assert (
        "event type, version, correlation id" in violation.message
        and "timestamp" not in violation.message.split("(", 1)[0]
    )
    nested = ParsedSchema(
        SchemaType.JSON,
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string"},
                    "version": {"type": "integer"},
                    "time": {"type": "string"},
                    "metadata": {"type": "object", "properties": {"correlationId": {"type": "string"}}},
                },
            }
        ),
    )
    assert check("envelope-fields", nested) == []


LINE = {"type": "record", "name": "Line", "fields": [field("sku", doc=None)]}


def test_field_docs_lists_each_undocumented_field_including_nested_ones():
    schema = avro(
        field("event_id"),
        field("amount", "long", doc=None),
        field("lines", {"type": "array", "items": LINE}, doc="The lines."),
    )
    found = check("field-docs", schema)
    assert [v.path for v in found] == ["amount", "lines[].sku"]
    assert all(v.severity == WARNING for v in found)
    assert check("field-docs", schema, severity=ERROR)[0].severity == ERROR


def test_classification_tags_may_not_be_dropped_while_the_field_stays():
    before = avro(
        field("event_id"),
        field("email", **{"confluent:tags": ["PII", "EMAIL"]}),
        field("country", classification="internal"),
        **{"confluent:tags": ["CONFIDENTIAL"]},
    )
    kept = avro(
        field("event_id"),
        field("email", **{"confluent:tags": ["EMAIL", "PII"]}),
        field("country", classification="internal"),
        **{"confluent:tags": ["CONFIDENTIAL"]},
    )
    assert check("classification-kept", kept, previous=before) == []
    dropped = avro(field("event_id"), field("email", **{"confluent:tags": ["EMAIL"]}), field("country"))
    found = check("classification-kept", dropped, previous=before)
    assert [(v.path, v.severity) for v in found] == [(None, ERROR), ("country", ERROR), ("email", ERROR)]
    assert "PII" in found[2].message and "internal" in found[1].message
    removed = avro(
        field("event_id"), field("country", classification="internal"), **{"confluent:tags": ["CONFIDENTIAL"]}
    )
    assert check("classification-kept", removed, previous=before) == []  # the field itself went: not this rule
    assert check("classification-kept", dropped, previous=None) == []  # a first version loses nothing


def test_json_schema_tags_are_read_from_properties():
    def doc(tags):
        return ParsedSchema(
            SchemaType.JSON,
            json.dumps({"type": "object", "properties": {"email": {"type": "string", "x-classification": tags}}}),
        )

    assert [v.path for v in check("classification-kept", doc(""), previous=doc("PII"))] == ["email"]


def test_settings_are_layered_and_validated():
    merged = merge_rules({"field-docs": {"severity": "error"}}, {"field-docs": {"enabled": False}})
    assert merged["field-docs"] == {"enabled": False, "severity": "error"}
    assert merged["subject-naming"] == policies.DEFAULT_RULES["subject-naming"]
    with pytest.raises(ValueError) as raised:
        validate_rules(
            {
                "nope": {},
                "field-docs": {"severity": "fatal", "colour": 1},
                "subject-naming": {"pattern": "(", "enabled": "yes"},
                "envelope-fields": {"fields": {"event id": []}},
            }
        )
    message = str(raised.value)
    for expected in (
        "unknown rule 'nope'",
        "severity must be",
        "unknown setting 'colour'",
        "not a valid regular",
        "enabled must be",
        "non-empty list",
    ):
        assert expected in message


# ---------------------------------------------------------------------------------------------
# Settings in the database, per domain
# ---------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_domains_settings_override_the_global_ones_for_its_subjects(make_user):
    admin = make_user("root", "admin")
    payments = documentation.domain_create(name="Payments")
    topic = make_topic(make_cluster(), "pay.completed")
    topic.domain = payments
    topic.save()
    schema_policy_set(rules={"field-docs": {"severity": "error"}}, user=admin)
    schema_policy_set(rules={"field-docs": {"enabled": False}}, domain=payments, user=admin)
    assert effective_policy_rules("shop.orders.placed-value")["field-docs"]["severity"] == "error"
    assert effective_policy_rules("pay.completed-value")["field-docs"]["enabled"] is False
    undocumented = avro(field("event_id", doc=None))
    assert [v.rule for v in schema_policy_check("other-value", undocumented) if v.rule == "field-docs"]
    assert not [v for v in schema_policy_check("pay.completed-value", undocumented) if v.rule == "field-docs"]

    with pytest.raises(ValidationError):
        schema_policy_set(rules={"field-docs": {"severity": "fatal"}}, user=admin)
    assert SchemaPolicy.objects.get(domain=None).rules == {"field-docs": {"severity": "error"}}


# ---------------------------------------------------------------------------------------------
# Enforcement at registration
# ---------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_caches():
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()
    yield
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()


def register(client, subject: str, schema: ParsedSchema):
    credentials = base64.b64encode(b"erin:s3cret-pass!").decode()
    return client.post(
        f"/registry/subjects/{subject}/versions",
        json.dumps({"schema": schema.text}),
        content_type=CT,
        headers={"Authorization": f"Basic {credentials}"},
    )


@pytest.mark.django_db
def test_an_error_policy_blocks_registration_with_422_naming_the_rule_and_stores_nothing(client, make_user):
    make_user("erin", "editor")
    tagged = avro(*ENVELOPE, field("email", **{"confluent:tags": ["PII"]}))
    assert register(client, "shop.customers-value", tagged).status_code == 200
    untagged = avro(*ENVELOPE, field("email"))
    refused = register(client, "shop.customers-value", untagged)
    assert refused.status_code == 422, refused.content
    body = refused.json()
    assert body["error_code"] == 42201 and "classification-kept" in body["message"] and "PII" in body["message"]
    assert SubjectVersion.objects.filter(subject__name="shop.customers-value").count() == 1

    # Warnings never block: an undocumented, badly named record registers.
    sloppy = avro(field("x", doc=None), name="lower_case")
    assert register(client, "Sloppy", sloppy).status_code == 200

    # Turning the rule down to a warning lets the same change through.
    schema_policy_set(rules={"classification-kept": {"severity": "warning"}})
    assert register(client, "shop.customers-value", untagged).status_code == 200
    assert SubjectVersion.objects.filter(subject__name="shop.customers-value").count() == 2


# ---------------------------------------------------------------------------------------------
# API and page
# ---------------------------------------------------------------------------------------------
def api_as(username: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{username}:s3cret-pass!".encode()).decode())
    return client


@pytest.mark.django_db
def test_policies_over_the_api(make_user):
    make_user("root", "admin")
    make_user("erin", "editor")
    documentation.domain_create(name="Payments")
    admin, editor = api_as("root"), api_as("erin")

    body = editor.get("/api/v1/schema-policies/").json()
    assert body["domain"] is None and body["rules"] == {}
    assert body["effective"] == policies.DEFAULT_RULES

    change = {"rules": {"field-docs": {"severity": "error"}}}
    assert editor.put("/api/v1/schema-policies/", change, format="json").status_code == 403
    saved = admin.put("/api/v1/schema-policies/", change, format="json").json()
    assert saved["effective"]["field-docs"]["severity"] == "error"
    domain = admin.put(
        "/api/v1/schema-policies/domains/payments/", {"rules": {"field-docs": {"enabled": False}}}, format="json"
    ).json()
    assert domain["effective"]["field-docs"] == {"enabled": False, "severity": "error"}
    bad = admin.put("/api/v1/schema-policies/", {"rules": {"field-docs": {"severity": "fatal"}}}, format="json")
    assert bad.status_code == 400 and "severity must be" in json.dumps(bad.json())
    assert admin.get("/api/v1/schema-policies/domains/nowhere/").status_code == 404
    assert SchemaPolicy.objects.get(domain=None).rules == {"field-docs": {"severity": "error"}}

    checked = editor.post(
        "/api/v1/schema-policies/check/",
        {"subject": "shop.orders-value", "schema": avro(field("x", doc=None)).text, "schemaType": "AVRO"},
        format="json",
    ).json()
    assert checked["passes"] is False
    assert {"field-docs", "envelope-fields"} <= {v["rule"] for v in checked["violations"]}
    unparsable = editor.post("/api/v1/schema-policies/check/", {"subject": "s-value", "schema": "{nope"}, format="json")
    assert unparsable.status_code == 400 and "schema" in unparsable.json()["error"]["detail"]


@pytest.mark.django_db
def test_the_policies_page_reads_for_everyone_and_saves_for_admins(client, make_user):
    make_user("root", "admin")
    make_user("vera", "viewer")
    documentation.domain_create(name="Payments")
    client.login(username="vera", password="s3cret-pass!")
    page = client.get("/governance/policies/")
    assert (
        page.status_code == 200 and b"classification-kept" in page.content and b"needs the admin role" in page.content
    )
    assert client.post("/governance/policies/", {}).status_code == 403

    client.login(username="root", password="s3cret-pass!")
    form = {}
    for rule, settings in policies.DEFAULT_RULES.items():
        if settings["enabled"]:
            form[f"{rule}__enabled"] = "on"
        form[f"{rule}__severity"] = settings["severity"]
        if "pattern" in settings:
            form[f"{rule}__pattern"] = settings["pattern"]
        if "fields" in settings:
            form[f"{rule}__fields"] = "\n".join(f"{k}: {', '.join(v)}" for k, v in settings["fields"].items())
    unchanged = client.post("/governance/policies/payments/", form)
    assert unchanged.status_code == 302 and SchemaPolicy.objects.get(domain__slug="payments").rules == {}

    form["field-docs__severity"] = "error"
    form.pop("record-naming__enabled")
    assert client.post("/governance/policies/payments/", form).status_code == 302
    assert SchemaPolicy.objects.get(domain__slug="payments").rules == {
        "field-docs": {"severity": "error"},
        "record-naming": {"enabled": False},
    }
    assert b"overridden here" in client.get("/governance/policies/payments/").content

    form["subject-naming__pattern"] = "("
    form["envelope-fields__fields"] = "event id"
    bad = client.post("/governance/policies/", form)
    assert bad.status_code == 400 and b"Line 1" in bad.content
    form["envelope-fields__fields"] = "event id: event_id"
    bad = client.post("/governance/policies/", form)
    assert bad.status_code == 400 and b"not a valid regular expression" in bad.content
    assert not SchemaPolicy.objects.filter(domain=None).exists()


@pytest.mark.django_db
def test_the_impact_report_carries_the_policy_verdict_beside_compatibility():
    from lineage.impact import analyze_impact
    from schemas import services as registry_services

    tagged = avro(*ENVELOPE, field("email", **{"confluent:tags": ["PII"]}))
    registry_services.subject_register_version(subject="shop.customers-value", schema_text=tagged.text)
    report = analyze_impact(subject="shop.customers-value", schema_text=avro(*ENVELOPE, field("email")).text)
    assert report.compatible and report.breaking  # compatible, but a policy error would block it
    assert report.as_dict()["policies"]["passes"] is False
    assert "classification-kept" in report.to_markdown()
    fine = analyze_impact(subject="shop.customers-value", schema_text=tagged.text)
    assert fine.as_dict()["policies"] == {"passes": True, "violations": []} and not fine.breaking
