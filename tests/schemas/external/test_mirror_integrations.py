"""Mirrored subjects work like our own: the schemas list and subject pages (read-only, source named), diffs,
validation, the compatibility verdict from the external registry's own endpoint with our field-level and
per-consumer analysis on top, tracing's payload decoding, catalog links, and the external-registries API."""

from __future__ import annotations

import io
import json

import pytest
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from catalog.links import schema_subject_url
from catalog.models import ConsumerGroup, Topic
from lineage.impact import BREAKS, analyze_impact
from lineage.services import refresh_edges
from monitoring.decoding import registry_decoder
from schemas import services as own_registry
from schemas.external.mirror import external_registry_sync
from schemas.external.services import external_registry_update
from schemas.models_external import ExternalRegistry
from simulator.catalog_seed import seed_shop_catalog
from simulator.schemas import topic_schema
from tests.lineage.impact_shop import PAYMENTS_COMPLETED, PAYMENTS_SUBJECT, payment_completed_schema
from tests.schemas.external.helpers import avro, closed_port_url, connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def mirrored(second_registry, unique_name):
    """A subject with two versions in the existing registry, mirrored; our own registry has other schemas."""
    client = second_registry.client()
    subject = f"{unique_name}.orders-value"
    v1 = client.register_schema(subject, avro("Order", "id"))
    v2 = client.register_schema(subject, avro("Order", "id", "note"))
    own_registry.subject_register_version(subject="ours-value", schema_text=avro("Ours", "x").schema_str)
    registry = connect(second_registry)
    assert external_registry_sync(registry_id=registry.pk).ok
    return {"registry": registry, "subject": subject, "ids": (v1, v2), "client": client}


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------
def test_the_schemas_list_shows_mirrored_subjects_with_their_registry(viewer, mirrored):
    body = viewer.get("/schemas/").content.decode()
    assert "Mirrored from existing registries" in body
    assert mirrored["subject"] in body and "confluent-prod" in body
    assert "ours-value" in body
    filtered = viewer.get("/schemas/", {"q": "ours"}).content.decode()
    assert mirrored["subject"] not in filtered


def test_a_mirrored_subject_page_is_read_only_and_names_its_source(viewer, mirrored, second_registry):
    subject = mirrored["subject"]
    response = viewer.get(f"/schemas/subjects/{subject}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mirrored from" in body and second_registry.url in body and "read-only" in body
    assert '"note"' in body or "note" in body
    assert "?version=1&amp;registry=confluent-prod" in body  # links stay on the mirror
    assert f'href="{second_registry.url}/subjects/' in body  # "Registry API" links go to the registry itself
    assert 'href="/registry/' not in body
    # Schema ids are the external registry's own.
    assert str(mirrored["ids"][1]) in body
    check = viewer.get(f"/schemas/subjects/{subject}/check/?registry=confluent-prod").content.decode()
    assert "Register this version" not in check and "Read-only: register new versions in" in check


def test_register_on_a_mirrored_subject_is_refused_and_changes_nothing(client, make_user, mirrored):
    client.force_login(make_user("root", "admin"))
    subject = mirrored["subject"]
    response = client.post(
        f"/schemas/subjects/{subject}/register/?registry=confluent-prod",
        {"schema_type": "AVRO", "schema": avro("Order", "id", "note", "x").schema_str, "references": ""},
    )
    assert response.status_code == 400
    assert "is mirrored from" in response.content.decode()
    assert mirrored["client"].get_versions(subject) == [1, 2]


def test_diff_and_validation_work_on_a_mirrored_subject(viewer, mirrored):
    subject = mirrored["subject"]
    diff = viewer.get(f"/schemas/subjects/{subject}/diff/", {"from": 1, "to": 2, "registry": "confluent-prod"})
    assert diff.status_code == 200
    assert "note" in diff.content.decode() and "added" in diff.content.decode()
    url = f"/schemas/subjects/{subject}/validate/?registry=confluent-prod"
    good = viewer.post(url, {"version": 2, "message": json.dumps({"id": "o-1", "note": "hi"})})
    assert good.status_code == 200 and "Valid for v2 (AVRO)" in good.content.decode()
    bad = viewer.post(url, {"version": 2, "message": json.dumps({"id": 5})})
    assert bad.status_code == 200 and "not a valid" in bad.content.decode()


def test_check_page_asks_the_external_registry(viewer, mirrored, second_registry):
    subject = mirrored["subject"]
    url = f"/schemas/subjects/{subject}/check/?registry=confluent-prod"
    breaking = avro("Order", "id", "note", required=("must",)).schema_str
    response = viewer.post(url, {"schema_type": "AVRO", "schema": breaking, "references": ""})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Incompatible under BACKWARD" in body and f"by {second_registry.url}" in body
    assert "must" in body  # the registry's own message, and our field diff


def test_an_unknown_subject_or_registry_is_a_404(viewer, mirrored):
    assert viewer.get(f"/schemas/subjects/{mirrored['subject']}/?registry=nope").status_code == 404
    assert viewer.get("/schemas/subjects/none-such-value/").status_code == 404
    assert viewer.get("/schemas/external/nope/").status_code == 404


def test_catalog_links_reach_mirrored_subjects(viewer, mirrored):
    url = schema_subject_url(mirrored["subject"])
    response = viewer.get(url)
    assert response.status_code == 200 and "Mirrored from" in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Tracing: payload decoding through the mirror
# ---------------------------------------------------------------------------------------------
def test_a_framed_payload_decodes_with_the_mirrored_schema_on_a_cluster_using_the_registry(
    mirrored, second_registry, unique_name
):
    from catalog.models import Cluster

    cluster = Cluster.objects.get(is_default=True)
    external_registry_update(registry=mirrored["registry"], cluster=cluster, mode=ExternalRegistry.Mode.INSTEAD)
    serializer = AvroSerializer(
        second_registry.client(),
        avro("Order", "id", "note").schema_str,
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    topic = f"{unique_name}.orders"
    payload = serializer({"id": "o-42", "note": "gift"}, SerializationContext(topic, MessageField.VALUE))
    assert int.from_bytes(payload[1:5], "big") == mirrored["ids"][1]

    assert registry_decoder(cluster.pk)(payload) == ({"id": "o-42", "note": "gift"}, "avro")
    # Without the tie, the id means whatever our own registry holds under it (here: nothing that reads this).
    assert registry_decoder(None)(payload)[0] != {"id": "o-42", "note": "gift"}


# ---------------------------------------------------------------------------------------------
# Impact analysis on a mirrored subject
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def mirrored_shop(second_registry):
    """The demo shop's catalog, its payments subject registered in the existing registry (not in ours), the
    cluster tied to that registry in mode "instead", mirrored, lineage refreshed."""
    seed_shop_catalog()
    spec = topic_schema("payments.completed")
    from confluent_kafka.schema_registry import Schema

    second_registry.client().register_schema(PAYMENTS_SUBJECT, Schema(spec.schema_str, spec.schema_type))
    topic = Topic.objects.select_related("cluster").get(name=PAYMENTS_COMPLETED)
    registry = connect(second_registry, name="shop-registry", cluster=topic.cluster, mode="instead")
    assert external_registry_sync(registry_id=registry.pk).ok
    group = ConsumerGroup.objects.get(group_id="shop.shipping")
    group.committed_topics.add(topic)
    refresh_edges(None)
    return registry


def test_impact_on_a_mirrored_subject_has_the_external_verdict_the_field_diff_and_the_consumers(
    mirrored_shop, second_registry
):
    report = analyze_impact(subject=PAYMENTS_SUBJECT, schema_text=payment_completed_schema(drop=("warehouse",)))

    assert report.compatible and report.compatibility_source == second_registry.url
    assert any(c.kind == "removed" and c.path == "warehouse" for c in report.changes)
    shipping = next(c for c in report.consumers if c.service == "shipping")
    assert shipping.verdict == BREAKS and shipping.fields_hit == ("warehouse",)
    assert any("mirrored from" in note for note in report.notes)

    breaking = json.loads(payment_completed_schema())
    breaking["fields"].append({"name": "required_now", "type": "string"})
    report = analyze_impact(topic=PAYMENTS_COMPLETED, schema_text=json.dumps(breaking))
    assert not report.compatible and report.compatibility_verdict == "incompatible"
    assert report.compatibility_messages and any("required_now" in m for m in report.compatibility_messages)


def test_impact_when_the_external_registry_is_unreachable_is_unknown_not_a_500(mirrored_shop, client, make_user):
    external_registry_update(registry=mirrored_shop, url=closed_port_url())
    client.force_login(make_user("vera", "viewer"))

    response = client.post(
        "/api/v1/impact/",
        {"subject": PAYMENTS_SUBJECT, "schema": payment_completed_schema(drop=("warehouse",))},
        content_type="application/json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["compatibility"]["verdict"] == "unknown" and body["compatibility"]["compatible"] is None
    assert "unreachable" in body["compatibility"]["unknownReason"]
    assert body["counts"][BREAKS] == 1  # the per-consumer analysis still runs
    assert "unknown" in body["markdown"]


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------
def test_api_admin_creates_changes_and_deletes_secrets_never_come_back(client, make_user, second_registry):
    client.force_login(make_user("root", "admin"))
    body = {
        "name": "via-api",
        "url": second_registry.url,
        "auth_kind": "basic",
        "username": second_registry.username,
        "secret": second_registry.password,
    }
    created = client.post("/api/v1/external-registries/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["has_secret"] is True and "secret" not in created.json()
    assert second_registry.password not in created.content.decode()

    changed = client.patch("/api/v1/external-registries/via-api/", {"mode": "instead"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["mode"] == "instead" and changed.json()["has_secret"]
    listed = client.get("/api/v1/external-registries/").json()
    assert [r["name"] for r in listed["results"]] == ["via-api"]

    bad = client.post("/api/v1/external-registries/", {"name": "x", "url": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and "url" in json.dumps(bad.json())
    assert client.delete("/api/v1/external-registries/via-api/").status_code == 204
    assert not ExternalRegistry.objects.exists()


def test_api_writes_need_the_admin_role(client, make_user, second_registry):
    connect(second_registry, name="guarded")
    client.force_login(make_user("otto", "editor"))
    assert client.get("/api/v1/external-registries/guarded/").status_code == 200
    denied = client.patch("/api/v1/external-registries/guarded/", {"mode": "instead"}, content_type="application/json")
    assert denied.status_code == 403
    assert client.delete("/api/v1/external-registries/guarded/").status_code == 403
    assert ExternalRegistry.objects.get(name="guarded").mode == "beside"


def test_page_form_admin_only_with_csrf(make_user, second_registry):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("root", "admin"))
    data = {
        "name": "from-form",
        "source_kind": "rest",
        "url": second_registry.url,
        "auth_kind": "basic",
        "username": second_registry.username,
        "secret": second_registry.password,
        "mode": "beside",
        "sync_enabled": "on",
        "sync_interval_s": "300",
        "topic": "_schemas",
    }
    assert browser.post("/schemas/external/new/", data).status_code == 403  # no CSRF token
    form = browser.get("/schemas/external/new/")
    token = form.cookies["csrftoken"].value
    saved = browser.post("/schemas/external/new/", {**data, "csrfmiddlewaretoken": token})
    assert saved.status_code == 302 and saved["Location"] == "/schemas/external/from-form/"
    assert ExternalRegistry.objects.get(name="from-form").secret() == second_registry.password
    edit = browser.get("/schemas/external/from-form/edit/").content.decode()
    assert second_registry.password not in edit
    invalid = browser.post(
        "/schemas/external/new/", {**data, "name": "x2", "url": "nope", "csrfmiddlewaretoken": token}
    )
    assert invalid.status_code == 400 and "http:// or https://" in invalid.content.decode()

    viewer = Client()
    viewer.force_login(make_user("vera", "viewer"))
    assert viewer.post("/schemas/external/new/", {**data, "name": "v"}).status_code == 403
    assert viewer.post("/schemas/external/from-form/delete/").status_code == 403
    assert not ExternalRegistry.objects.filter(name="v").exists()


@pytest.mark.kafka
def test_tracing_fetches_a_record_from_kafka_and_decodes_it_through_the_mirror(
    mirrored, second_registry, kafka_bootstrap, unique_name
):
    from django.utils import timezone

    from catalog.services.clusters import cluster_create
    from eventscope.kafka import ClusterConnection, EventProducer, KafkaAdmin
    from monitoring.models import TraceEvent
    from monitoring.payloads import payload_fetch

    topic = f"{unique_name}.orders"  # the mirrored subject is its value subject (topic name strategy)
    connection = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    KafkaAdmin(connection).create_topic(topic, partitions=1)
    serializer = AvroSerializer(
        second_registry.client(),
        avro("Order", "id", "note").schema_str,
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    payload = serializer({"id": "o-7", "note": "traced"}, SerializationContext(topic, MessageField.VALUE))
    with EventProducer(connection) as producer:
        producer.produce(topic, payload, key="o-7", headers={"correlation_id": "corr-mirror"})
    cluster = cluster_create(name=unique_name[:100], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    external_registry_update(registry=mirrored["registry"], cluster=cluster, mode=ExternalRegistry.Mode.INSTEAD)
    event = TraceEvent.objects.create(
        correlation_id="corr-mirror",
        cluster=cluster,
        topic=topic,
        partition=0,
        offset=0,
        timestamp=timezone.now(),
        key="o-7",
        size=len(payload),
        payload_excerpt="",
        payload_encoding="avro",
    )

    fetched = payload_fetch(event=event)

    assert fetched.error == "" and fetched.encoding == "avro"
    assert json.loads(fetched.text) == {"id": "o-7", "note": "traced"}


def test_check_impact_does_not_clear_a_change_whose_compatibility_is_unknown(mirrored_shop, tmp_path):
    # Nobody breaks (an optional field is added), but the external registry could not be asked: a
    # pipeline must not pass on that. Exit 2 with the reason, after the report.
    from django.core.management import CommandError, call_command

    external_registry_update(registry=mirrored_shop, url=closed_port_url())
    proposed = json.loads(payment_completed_schema())
    proposed["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    schema_file = tmp_path / "payments.avsc"
    schema_file.write_text(json.dumps(proposed))
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("check_impact", "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_file), stdout=out)

    assert raised.value.returncode == 2
    assert "could not be checked" in str(raised.value) and "unreachable" in str(raised.value)
    assert "unknown" in out.getvalue()
