"""Impact analysis on the demo shop, its pure core, and POST /api/v1/impact/."""

from __future__ import annotations

import base64
import json

import pytest
from django.urls import reverse

from catalog.models import DeclaredRelation
from lineage.graph import Edge, LineageGraph, Node
from lineage.impact import (
    BREAKS,
    SAFE,
    UNKNOWN,
    FieldChangeRow,
    ImpactInputError,
    ImpactNotFoundError,
    ReaderDeclaration,
    affected_consumers,
    analyze_impact,
    consumer_verdict,
    reachable_consumers,
)

from .impact_shop import PAYMENTS_SUBJECT, SHIPMENTS_SUBJECT, payment_completed_schema, seed_shop

pytestmark = pytest.mark.django_db

URL = "/api/v1/impact/"


@pytest.fixture
def shop(db):
    seed_shop()


def _by_service(report):
    return {(c.service, c.direct): c for c in report.consumers}


# ---------------------------------------------------------------------------------------------
# On the demo shop
# ---------------------------------------------------------------------------------------------
def test_removing_a_field_shipping_reads_breaks_shipping_and_names_its_team(shop):
    report = analyze_impact(subject=PAYMENTS_SUBJECT, schema_text=payment_completed_schema(drop=("warehouse",)))

    consumers = _by_service(report)
    shipping = consumers[("shipping", True)]
    assert shipping.verdict == BREAKS
    assert shipping.team == "Logistics" and shipping.contact == "#team-logistics"
    assert shipping.group == "shop.shipping"  # its group's committed offsets put the group on the edge
    assert shipping.topic == "shop.payments.completed" and shipping.depth == 1
    assert shipping.fields_hit == ("warehouse",)
    assert any("warehouse" in reason for reason in shipping.reasons)
    # analytics reads only the money, which does not change.
    analytics = consumers[("analytics", True)]
    assert analytics.verdict == SAFE and analytics.team == "Data Platform"
    # notifications reads what shipping produces: indirectly at risk, at depth 2, via shipping.
    notifications = consumers[("notifications", False)]
    assert (notifications.verdict, notifications.depth, notifications.via) == (UNKNOWN, 2, "shipping")
    assert notifications.topic == "shop.shipments.created"
    assert notifications.reasons == (
        "indirect: downstream of shipping, which breaks and may stop or change its output",
    )

    assert report.breaking
    assert any(change.kind == "removed" and change.path == "warehouse" for change in report.changes)
    # Removing a required field is fine under BACKWARD: the registry would accept it; shipping would not.
    assert report.compatible and report.level == "BACKWARD" and report.checked_versions == [1]

    markdown = report.to_markdown()
    assert markdown.splitlines()[0].startswith("### ❌ Schema impact: `shop.payments.completed-value`")
    assert "| ❌ breaks | **shipping** | Logistics | #team-logistics | `shop.shipping` |" in markdown
    assert "| removed | `warehouse` |" in markdown
    as_json = json.loads(report.to_json())
    assert as_json["breaking"] is True and as_json["counts"][BREAKS] == 1


def test_adding_an_optional_field_breaks_nobody(shop):
    report = analyze_impact(
        subject=PAYMENTS_SUBJECT, schema_text=payment_completed_schema(add_optional=("voucher_code",))
    )

    assert report.compatible and not report.breaking
    assert not [c for c in report.consumers if c.verdict == BREAKS]
    consumers = _by_service(report)
    assert consumers[("shipping", True)].verdict == SAFE
    assert consumers[("analytics", True)].verdict == SAFE
    assert consumers[("notifications", False)].verdict == SAFE  # everything upstream of it is safe
    assert [(c.kind, c.path) for c in report.changes] == [("added", "voucher_code")]
    assert report.to_markdown().startswith("### ✅ Schema impact")


def test_a_consumer_that_declares_no_reader_is_unknown(shop):
    # shipments.created feeds notifications and analytics, neither of which declares what it reads there.
    from simulator.schemas import topic_schema

    report = analyze_impact(subject=SHIPMENTS_SUBJECT, schema_text=topic_schema("shipments.created").schema_str)

    assert report.existing_version == 1  # the very same schema: nothing to break
    consumers = _by_service(report)
    assert {service for service, _ in consumers} == {"notifications", "analytics"}
    for service in ("notifications", "analytics"):
        consumer = consumers[(service, True)]
        assert consumer.verdict == UNKNOWN
        assert consumer.reasons == ("declares no reader schema version and no read fields",)
    assert not report.breaking


def test_an_incompatible_schema_is_breaking_with_the_registry_messages(shop):
    schema = json.loads(payment_completed_schema())
    for field in schema["fields"]:
        if field["name"] == "amount":
            field["type"] = "long"  # bytes (decimal) -> long: no Avro reader resolves one to the other
    report = analyze_impact(subject=PAYMENTS_SUBJECT, schema_text=json.dumps(schema))

    assert not report.compatible and report.breaking
    assert report.compatibility_messages == [
        "TYPE_MISMATCH at /fields/8/type: version 1: field io.eventscope.shop.PaymentCompleted.amount: the reader's "
        "long cannot hold the writer's bytes (decimal(18,2)) (the new schema reading old data)"
    ]
    consumers = _by_service(report)
    shipping, analytics = consumers[("shipping", True)], consumers[("analytics", True)]
    assert shipping.verdict == BREAKS  # its reader schema v1 cannot read a long amount (it does not read amount)
    assert shipping.fields_hit == () and any("reader schema (v1)" in reason for reason in shipping.reasons)
    assert analytics.verdict == BREAKS and analytics.fields_hit == ("amount",)  # no reader version, but reads it
    assert "Compatibility messages" in report.to_markdown()


def test_a_consumer_with_a_reader_version_that_reads_the_new_schema_is_safe(shop):
    relation = DeclaredRelation.objects.get(
        service__name="analytics", direction="consumes", event_type__name="ShipmentCreated"
    )
    relation.reader_schema_version = 1
    relation.save()
    from simulator.schemas import event_avro_schema

    schema = event_avro_schema("ShipmentCreated")
    schema["fields"].append({"name": "signature", "type": ["null", "string"], "default": None})
    report = analyze_impact(subject=SHIPMENTS_SUBJECT, schema_text=json.dumps(schema))

    consumers = _by_service(report)
    assert consumers[("analytics", True)].verdict == SAFE
    assert consumers[("analytics", True)].reasons == ("its reader schema (v1) reads the new schema's data",)
    assert consumers[("notifications", True)].verdict == UNKNOWN


def test_by_topic_uses_the_event_types_subject(shop):
    report = analyze_impact(topic="shop.payments.completed", schema_text=payment_completed_schema(drop=("warehouse",)))
    assert report.subject == PAYMENTS_SUBJECT and report.topics == ["shop.payments.completed"]
    assert _by_service(report)[("shipping", True)].verdict == BREAKS


def test_bad_input_is_refused_with_a_clear_error(shop):
    with pytest.raises(ImpactNotFoundError, match="no-such-value"):
        analyze_impact(subject="no-such-value", schema_text=payment_completed_schema())
    with pytest.raises(ImpactNotFoundError, match=r"no\.such\.topic"):
        analyze_impact(topic="no.such.topic", schema_text=payment_completed_schema())
    with pytest.raises(ImpactInputError, match="Invalid schema") as caught:
        analyze_impact(subject=PAYMENTS_SUBJECT, schema_text='{"type": "record", "name": ')
    assert caught.value.field == "schema"
    with pytest.raises(ImpactInputError, match="subject or a topic"):
        analyze_impact(schema_text=payment_completed_schema())


# ---------------------------------------------------------------------------------------------
# The pure core
# ---------------------------------------------------------------------------------------------
def test_verdict_rules():
    removed = [FieldChangeRow("removed", "items[].sku", old="string")]
    assert consumer_verdict(None, removed)[0] == UNKNOWN
    assert consumer_verdict(ReaderDeclaration(), removed)[0] == UNKNOWN
    # A parent read covers its children, and a child read is hit by a change of its parent.
    assert consumer_verdict(ReaderDeclaration(reads_fields=("items",)), removed)[0] == BREAKS
    assert consumer_verdict(ReaderDeclaration(reads_fields=("items[].sku",)), removed)[0] == BREAKS
    assert consumer_verdict(ReaderDeclaration(reads_fields=("items[].skus",)), removed)[0] == SAFE
    assert consumer_verdict(ReaderDeclaration(reads_fields=("item",)), removed)[0] == SAFE
    renamed = [FieldChangeRow("renamed", "total", old="amount", new="total", old_path="amount")]
    assert consumer_verdict(ReaderDeclaration(reads_fields=("amount",)), renamed)[0] == BREAKS
    # Becoming optional takes the value away; becoming required does not; doc and default changes never break.
    optional = [FieldChangeRow("required changed", "amount", old="required", new="optional")]
    required = [FieldChangeRow("required changed", "amount", old="optional", new="required")]
    docs = [FieldChangeRow("doc changed", "amount", old="a", new="b"), FieldChangeRow("default changed", "amount")]
    reads_amount = ReaderDeclaration(reads_fields=("amount",))
    assert consumer_verdict(reads_amount, optional)[0] == BREAKS
    assert consumer_verdict(reads_amount, required)[0] == SAFE
    assert consumer_verdict(reads_amount, docs)[0] == SAFE
    # A reader version: its check decides; one that could not be loaded alone leaves the verdict unknown.
    assert consumer_verdict(ReaderDeclaration(reader_version=2, reader_problems=("X",)), [])[0] == BREAKS
    assert consumer_verdict(ReaderDeclaration(reader_version=2, reader_problems=()), [])[0] == SAFE
    assert consumer_verdict(ReaderDeclaration(reader_version=9, reader_error="no v9"), [])[0] == UNKNOWN


def test_consumers_are_found_once_each_at_their_smallest_depth():
    # t0 -> g1 -> a -> t1 -> b -> t2 -> c; t0 -> b (declared, no group); t0 -> g2 (no service); cycle c -> t0.
    nodes = [Node("service:a", "service", "a"), Node("service:b", "service", "b"), Node("service:c", "service", "c")]
    edges = [
        Edge("topic:k/t0", "group:k/g1", {"discovered"}),
        Edge("group:k/g1", "service:a", {"discovered"}),
        Edge("service:a", "topic:k/t1", {"declared"}),
        Edge("topic:k/t1", "service:b", {"declared"}),
        Edge("service:b", "topic:k/t2", {"declared"}),
        Edge("topic:k/t2", "service:c", {"declared"}),
        Edge("topic:k/t0", "service:b", {"declared"}),
        Edge("topic:k/t0", "group:k/g2", {"discovered"}),
        Edge("service:c", "topic:k/t0", {"declared"}),
    ]
    graph = LineageGraph.build(nodes, edges)
    refs = reachable_consumers(graph, ["topic:k/t0"])
    found = {(ref.service, ref.group, ref.depth, ref.via, ref.topic) for ref in refs}
    assert found == {
        ("a", "g1", 1, None, "t0"),
        ("b", None, 1, None, "t0"),
        (None, "g2", 1, None, "t0"),
        ("c", None, 2, "b", "t2"),
    }
    assert {ref.graph_depth for ref in refs if ref.service == "a"} == {2}
    assert {ref.service: ref.upstream for ref in refs if ref.service} == {"a": (), "b": ("a",), "c": ("b",)}
    assert reachable_consumers(graph, ["topic:k/unknown"]) == []


def test_a_transitive_consumer_is_at_risk_when_any_direct_consumer_upstream_breaks():
    # t0 feeds a (safe) and b (breaks); both produce t1, which x reads; y reads what x produces.
    edges = [
        Edge("topic:k/t0", "service:a", {"declared"}),
        Edge("topic:k/t0", "service:b", {"declared"}),
        Edge("service:a", "topic:k/t1", {"declared"}),
        Edge("service:b", "topic:k/t1", {"declared"}),
        Edge("topic:k/t1", "service:x", {"declared"}),
        Edge("service:x", "topic:k/t2", {"declared"}),
        Edge("topic:k/t2", "service:y", {"declared"}),
    ]
    refs = reachable_consumers(LineageGraph.build([], edges), ["topic:k/t0"])
    removed = [FieldChangeRow("removed", "amount")]
    declarations = {
        ("a", None): ReaderDeclaration(reads_fields=("order_id",)),
        ("b", None): ReaderDeclaration(reads_fields=("amount",)),
    }
    rows = {row.service: row for row in affected_consumers(refs, changes=removed, declarations=declarations)}
    assert (rows["a"].verdict, rows["b"].verdict) == (SAFE, BREAKS)
    assert rows["x"].via == "a"  # the walk reached it through a first...
    assert rows["x"].verdict == UNKNOWN and "downstream of b, which breaks" in rows["x"].reasons[0]  # ...but b feeds it
    assert rows["y"].verdict == UNKNOWN and rows["y"].depth == 3
    safe = {("b", None): ReaderDeclaration(reads_fields=("order_id",)), **{("a", None): declarations[("a", None)]}}
    rows = {row.service: row for row in affected_consumers(refs, changes=removed, declarations=safe)}
    assert rows["x"].verdict == SAFE and rows["y"].verdict == SAFE


# ---------------------------------------------------------------------------------------------
# POST /api/v1/impact/
# ---------------------------------------------------------------------------------------------
def _basic(username: str, password: str = "s3cret-pass!") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def test_api_answers_the_report_to_any_signed_in_user(shop, client, make_user):
    make_user("vera", role="viewer")  # a viewer may analyse: nothing is written
    body = {"subject": PAYMENTS_SUBJECT, "schema": payment_completed_schema(drop=("warehouse",))}
    response = client.post(URL, body, content_type="application/json", **_basic("vera"))

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["breaking"] is True and answer["compatibility"]["level"] == "BACKWARD"
    shipping = next(c for c in answer["consumers"] if c["service"] == "shipping")
    assert shipping["verdict"] == "breaks" and shipping["team"] == "Logistics" and shipping["depth"] == 1
    assert answer["markdown"].startswith("### ❌ Schema impact")
    assert reverse("api-impact") == URL


def test_api_by_topic(shop, client, make_user):
    make_user("vera")
    body = {"topic": "shop.payments.completed", "schema": payment_completed_schema(), "schemaType": "AVRO"}
    response = client.post(URL, body, content_type="application/json", **_basic("vera"))
    assert response.status_code == 200
    assert response.json()["subject"] == PAYMENTS_SUBJECT and response.json()["breaking"] is False


def test_api_needs_a_login(shop, client):
    response = client.post(URL, {"subject": PAYMENTS_SUBJECT, "schema": "{}"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schema": '{"type": "string"}'}, "subject"),
        ({"subject": PAYMENTS_SUBJECT}, "schema"),
        ({"subject": PAYMENTS_SUBJECT, "schema": '{"type": "string"}', "schemaType": "XML"}, "schemaType"),
        ({"subject": PAYMENTS_SUBJECT, "schema": '{"type": "record", "name": '}, "schema"),
        ({"subject": PAYMENTS_SUBJECT, "schema": '{"type": "string"}', "references": [{"name": "x"}]}, "references"),
        ({"topic": "shop.payments\u0000completed", "schema": '{"type": "string"}'}, "topic"),
        ({"subject": "shop\u0000-value", "schema": '{"type": "string"}'}, "subject"),
        ({"subject": "", "schema": '{"type": "string"}'}, "subject"),
    ],
)
def test_api_refuses_bad_input_with_400(shop, client, make_user, body, field):
    make_user("vera")
    response = client.post(URL, body, content_type="application/json", **_basic("vera"))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["status"] == 400 and field in error["detail"]


def test_api_invalid_schema_says_why(shop, client, make_user):
    make_user("vera")
    body = {"subject": PAYMENTS_SUBJECT, "schema": '{"type": "record", "name": "X", "fields": [{"name": 1}]}'}
    response = client.post(URL, body, content_type="application/json", **_basic("vera"))
    assert response.status_code == 400
    assert response.json()["error"]["detail"]["schema"][0].startswith("Invalid schema")


def test_api_not_json_is_a_400(shop, client, make_user):
    make_user("vera")
    response = client.post(URL, "{not json", content_type="application/json", **_basic("vera"))
    assert response.status_code == 400


@pytest.mark.parametrize("body", [{"subject": "nope-value"}, {"topic": "no.such.topic"}])
def test_api_unknown_subject_or_topic_is_a_404(shop, client, make_user, body):
    make_user("vera")
    response = client.post(
        URL, {**body, "schema": '{"type": "string"}'}, content_type="application/json", **_basic("vera")
    )
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_api_is_in_the_openapi_document(client, make_user):
    make_user("vera")
    document = client.get("/api/v1/schema/?format=json", **_basic("vera")).json()
    operation = document["paths"]["/api/v1/impact/"]["post"]
    assert operation["operationId"] == "impact_analyze"
    assert {"200", "400", "401", "404"} <= set(operation["responses"])


def test_the_markdown_report_stays_small_enough_for_a_pull_request_comment():
    from lineage.impact import MARKDOWN_MAX_CONSUMERS, AffectedConsumer, ImpactReport

    consumers = [
        AffectedConsumer(f"svc-{n}", "Team | A", "#a", None, "t", 2, 3, False, UNKNOWN, ("indirect",), via="x")
        for n in range(MARKDOWN_MAX_CONSUMERS + 10)
    ]
    report = ImpactReport("s-value", "AVRO", "BACKWARD", True, [1], [], 1, [], ["t"], consumers)
    markdown = report.to_markdown()
    assert markdown.count("| ❔ unknown |") == MARKDOWN_MAX_CONSUMERS
    assert "…and 10 more consumer(s) not shown (0 break, 10 unknown, 0 safe)" in markdown
    assert "Team \\| A" in markdown  # a pipe in a value does not break the table
    assert len(report.as_dict()["consumers"]) == MARKDOWN_MAX_CONSUMERS + 10
