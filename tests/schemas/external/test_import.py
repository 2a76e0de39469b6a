"""Importing the second registry into ours: ids and versions kept, dry run, conflicts, re-runs, old messages.

The second registry is filled through confluent-kafka's SchemaRegistryClient as a team's producers would,
messages are serialized through it onto the real broker, then `manage.py import_registry` moves the
subjects into our registry (pytest-django's live server) and a Confluent deserializer pointed at OUR
registry reads the old messages.
"""

from __future__ import annotations

import json
import sys
import uuid

import pytest
import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.core.management import CommandError, call_command

from governance.models import AuditEntry
from schemas import selectors, services
from schemas.models import Schema as SchemaRow
from schemas.models import SchemaIdAllocator, SubjectVersion
from schemas.registry import authentication

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

PASSWORD = "s3cret-pass!"


def _avro(name: str, *fields: tuple[str, str]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "shop",
            "fields": [
                {"name": field, "type": kind, **({"default": ""} if kind == "string" and i else {})}
                for i, (field, kind) in enumerate(fields)
            ],
        }
    )


ORDER_V1 = _avro("Order", ("id", "string"))
ORDER_V2 = _avro("Order", ("id", "string"), ("note", "string"))
PAYMENT_JSON = json.dumps(
    {"type": "object", "properties": {"id": {"type": "string"}, "amount": {"type": "number"}}, "required": ["id"]}
)
MONEY_PROTO = 'syntax = "proto3";\npackage shop;\n\nmessage Money {\n  string currency = 1;\n  int64 units = 2;\n}\n'
REFUND_PROTO = (
    'syntax = "proto3";\npackage shop;\n\nimport "shop/money.proto";\n\n'
    "message Refund {\n  string id = 1;\n  shop.Money amount = 2;\n}\n"
)


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Each test starts on a flushed database: ids start again at 1.
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()
    yield
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()


@pytest.fixture
def source(second_registry, unique_name, tmp_path):
    """Subjects of every format in the second registry, with a reference and a subject-level config."""
    client = second_registry.client()
    names = {
        "order": f"{unique_name}-order-value",
        "payment": f"{unique_name}-payment-value",
        "money": f"{unique_name}-money",
        "refund": f"{unique_name}-refund-value",
    }
    ids = {
        ("order", 1): client.register_schema(names["order"], Schema(ORDER_V1, "AVRO")),
        ("order", 2): client.register_schema(names["order"], Schema(ORDER_V2, "AVRO")),
        ("payment", 1): client.register_schema(names["payment"], Schema(PAYMENT_JSON, "JSON")),
        ("money", 1): client.register_schema(names["money"], Schema(MONEY_PROTO, "PROTOBUF")),
    }
    ids[("refund", 1)] = client.register_schema(
        names["refund"],
        Schema(REFUND_PROTO, "PROTOBUF", [SchemaReference("shop/money.proto", names["money"], 1)]),
    )
    client.set_compatibility(names["order"], "FULL")
    password_file = tmp_path / "password"
    password_file.write_text(second_registry.password + "\n")
    args = [
        "--url",
        second_registry.url,
        "--username",
        second_registry.username,
        "--password-file",
        str(password_file),
        *[arg for name in names.values() for arg in ("--subject", name)],
    ]
    yield {"client": client, "names": names, "ids": ids, "args": args, "registry": second_registry}
    client.close()


def _run(*args: str, capsys) -> tuple[int, str, str]:
    try:
        call_command("import_registry", *args)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        sys.stderr.write(f"CommandError: {exc}\n")  # as manage.py prints it
    out, err = capsys.readouterr()
    return code, out, err


def _ours(names: dict[str, str]) -> dict[tuple[str, int], int]:
    by_name = {name: key for key, name in names.items()}
    return {
        (by_name[subject], version): schema_id
        for subject, version, schema_id in SubjectVersion.objects.filter(
            subject__name__in=names.values(), deleted_at__isnull=True
        ).values_list("subject__name", "version", "schema_id")
    }


def _produce_orders(client: SchemaRegistryClient, bootstrap: str, topic: str) -> list[dict]:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept referenced until the future is done
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    orders = [{"id": "o-1"}, {"id": "o-2", "note": "gift"}]
    producer = Producer({"bootstrap.servers": bootstrap})
    context = SerializationContext(topic, MessageField.VALUE)
    v1 = AvroSerializer(client, ORDER_V1, conf={"auto.register.schemas": False, "use.latest.version": False})
    v2 = AvroSerializer(client, ORDER_V2, conf={"auto.register.schemas": False, "use.latest.version": False})
    producer.produce(topic, value=v1({"id": "o-1"}, context))
    producer.produce(topic, value=v2({"id": "o-2", "note": "gift"}, context))
    assert producer.flush(30) == 0
    return orders


def _consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[bytes] = []
    try:
        for _ in range(60):  # bounded: at most ~60 s
            message = consumer.poll(1.0)
            if message is not None:
                assert message.error() is None, message.error()
                received.append(message.value())
            if len(received) == count:
                break
    finally:
        consumer.close()
    assert len(received) == count
    return received


def test_import_keeps_ids_and_versions_and_old_messages_read_through_our_registry(
    source, live_server, make_user, kafka_bootstrap, unique_name, capsys
):
    topic = f"{unique_name}-order"  # the order subject is its value subject (TopicNameStrategy)
    orders = _produce_orders(source["client"], kafka_bootstrap, topic)

    # The dry run reports every version it would import and changes nothing.
    code, out, _err = _run(*source["args"], "--dry-run", capsys=capsys)
    assert code == 0
    assert len([line for line in out.splitlines() if line.endswith("would import")]) == 5
    assert len([line for line in out.splitlines() if line.endswith("would set")]) == 1  # the order subject's level
    assert "Nothing was changed" in out
    assert SchemaRow.objects.count() == 0
    assert SubjectVersion.objects.count() == 0

    code, out, err = _run(*source["args"], capsys=capsys)
    assert code == 0, err
    assert "Imported 5 versions (5 schema ids)" in out and "set 1 compatibility level;" in out
    assert source["registry"].password not in out + err
    assert _ours(source["names"]) == source["ids"]
    for (_key, _version), schema_id in source["ids"].items():
        assert SchemaRow.objects.get(pk=schema_id).text == source["client"].get_schema(schema_id).schema_str
    refund = selectors.schema_by_id(source["ids"][("refund", 1)])
    assert [(r.name, r.subject, r.version) for r in refund.references] == [
        ("shop/money.proto", source["names"]["money"], 1)
    ]
    assert selectors.subject_config(source["names"]["order"])["compatibility"] == "FULL"
    # The subjects are back in the registry's normal mode; new registrations get ids past the imported ones.
    assert selectors.subject_settings(source["names"]["order"]).mode == "READWRITE"
    assert SchemaIdAllocator.objects.get(pk=1).next_id > max(source["ids"].values())
    created = services.subject_register_version(subject=f"{unique_name}-new", schema_text=_avro("New", ("x", "long")))
    assert created.schema_id > max(source["ids"].values())
    # Audit: the import is logged as a CLI change.
    entries = AuditEntry.objects.filter(object_type="schemas.SubjectVersion", action="create")
    assert entries.count() == 6  # five imported versions and the one registered just above
    assert entries.filter(channel="cli").count() == 5  # the one registered above is not the command's
    assert all("import_registry" in name for name in entries.filter(channel="cli").values_list("actor_name", flat=True))

    # A second run imports nothing.
    code, out, _err = _run(*source["args"], capsys=capsys)
    assert code == 0
    assert "Nothing to import: all 5 versions already present" in out
    assert out.count("already present") >= 5
    assert SubjectVersion.objects.count() == 6

    # Messages serialized through the second registry are read through ours.
    make_user("consumer", "viewer", password=PASSWORD)
    ours = SchemaRegistryClient(
        {"url": f"{live_server.url}/registry", "basic.auth.user.info": f"consumer:{PASSWORD}", "max.retries": 0}
    )
    try:
        deserialize = AvroDeserializer(ours)
        context = SerializationContext(topic, MessageField.VALUE)
        values = [deserialize(raw, context) for raw in _consume(kafka_bootstrap, topic, len(orders))]
    finally:
        ours.close()
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        admin.delete_topics([topic])[topic].result(timeout=30)
    assert values == [{"id": "o-1"}, {"id": "o-2", "note": "gift"}]


def test_a_conflict_is_reported_and_nothing_changes(source, unique_name, capsys):
    # Our registry already holds another schema under one of the source's ids, and another schema at
    # version 1 of the order subject.
    money_id = source["ids"][("money", 1)]
    services.mode_set(mode="IMPORT", subject=f"{unique_name}-ours", force=True)
    services.subject_register_version(
        subject=f"{unique_name}-ours", schema_text=_avro("Mine", ("y", "long")), id=money_id, version=1
    )
    # An id far above the second registry's, so that only the version clashes.
    services.mode_set(mode="IMPORT", subject=source["names"]["order"], force=True)
    services.subject_register_version(
        subject=source["names"]["order"], schema_text=_avro("Other", ("z", "long")), id=900_000, version=1
    )
    services.mode_delete(subject=source["names"]["order"])
    before = (SchemaRow.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count())

    code, out, err = _run(*source["args"], capsys=capsys)

    assert code == 1
    assert f"schema id {money_id} is used here by a different schema" in err
    assert f"{source['names']['order']} version 1 (id {source['ids'][('order', 1)]}): version 1 here holds" in err
    assert "nothing was imported" in err
    assert "conflict" in out  # the summary table marks the rows
    assert (SchemaRow.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count()) == before

    # The dry run reports the same conflicts (exit 1) and changes nothing either.
    code, _out, err = _run(*source["args"], "--dry-run", capsys=capsys)
    assert code == 1
    assert f"schema id {money_id} is used here by a different schema" in err
    assert (SchemaRow.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count()) == before


def test_one_subject_brings_the_versions_it_references(source, capsys):
    names = source["names"]
    args = [arg for arg in source["args"] if arg not in names.values() and arg != "--subject"]

    code, out, err = _run(*args, "--subject", names["refund"], capsys=capsys)

    assert code == 0, err
    assert _ours(names) == {("refund", 1): source["ids"][("refund", 1)], ("money", 1): source["ids"][("money", 1)]}
    assert "Imported 2 versions" in out


def test_the_command_imports_an_external_registry_configured_in_eventscope(source, capsys):
    from schemas.external.services import external_registry_create

    registry = external_registry_create(
        name="existing-registry",
        url=source["registry"].url,
        auth_kind="basic",
        username=source["registry"].username,
        secret=source["registry"].password,
        sync_enabled=False,
    )

    code, out, err = _run("--registry", registry.name, "--subject", source["names"]["payment"], capsys=capsys)

    assert code == 0, err
    assert _ours(source["names"]) == {("payment", 1): source["ids"][("payment", 1)]}
    assert source["registry"].password not in out + err


GONE = _avro("Gone", ("id", "string"))
FROZEN = _avro("Frozen", ("id", "string"))
BUSY = _avro("Busy", ("id", "string"))


@pytest.fixture
def with_deleted(second_registry, unique_name, tmp_path, kafka_bootstrap):
    """A second registry with soft-deleted versions, a hard-deleted one and subject modes.

    - order: v1 soft-deleted, v2 live, v3 live with v1's schema again (registered after the delete).
    - gone: its only version soft-deleted, after a message was written with it on the real broker.
    - frozen: READONLY; busy: in IMPORT mode itself (not copied).
    - dropped: soft-deleted, then permanently deleted (its version is not imported).
    """
    client = second_registry.client()
    names = {key: f"{unique_name}-sd-{key}-value" for key in ("order", "gone", "frozen", "busy", "dropped")}
    ids = {
        ("order", 1): client.register_schema(names["order"], Schema(ORDER_V1, "AVRO")),
        ("order", 2): client.register_schema(names["order"], Schema(ORDER_V2, "AVRO")),
        ("gone", 1): client.register_schema(names["gone"], Schema(GONE, "AVRO")),
        ("frozen", 1): client.register_schema(names["frozen"], Schema(FROZEN, "AVRO")),
        ("busy", 1): client.register_schema(names["busy"], Schema(BUSY, "AVRO")),
    }
    dropped_id = client.register_schema(names["dropped"], Schema(_avro("Dropped", ("id", "string")), "AVRO"))

    # A message written with the "gone" schema, as a producer did before the version was deleted.
    topic = names["gone"].removesuffix("-value")  # TopicNameStrategy: the topic's value subject
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    serialize = AvroSerializer(client, GONE, conf={"auto.register.schemas": False, "use.latest.version": False})
    producer.produce(topic, value=serialize({"id": "g-1"}, SerializationContext(topic, MessageField.VALUE)))
    assert producer.flush(30) == 0

    assert client.delete_version(names["order"], 1) == 1
    again = second_registry.client()  # a fresh client: the first one remembers v1's registration
    ids[("order", 3)] = again.register_schema(names["order"], Schema(ORDER_V1, "AVRO"))
    assert again.get_latest_version(names["order"]).version == 3
    again.close()
    assert ids[("order", 3)] == ids[("order", 1)]  # the same schema keeps its id in a new version
    assert client.delete_version(names["gone"], 1) == 1
    client.delete_subject(names["dropped"])
    client.delete_subject(names["dropped"], permanent=True)
    client.update_mode(names["frozen"], "READONLY")
    client.update_mode(names["busy"], "IMPORT", force=True)

    password_file = tmp_path / "password"
    password_file.write_text(second_registry.password + "\n")
    args = [
        *("--url", second_registry.url, "--username", second_registry.username),
        *("--password-file", str(password_file)),
        # Not the dropped subject: it is gone for good (asking for it is an input error).
        *[arg for key, name in names.items() if key != "dropped" for arg in ("--subject", name)],
    ]
    yield {"client": client, "names": names, "ids": ids, "dropped_id": dropped_id, "args": args, "topic": topic}
    client.close()
    admin.delete_topics([topic])[topic].result(timeout=30)


def _all_ours(names: dict[str, str]) -> dict[tuple[str, int], tuple[int, bool]]:
    """(subject key, version) -> (schema id, soft-deleted) of every version here, deleted ones too."""
    by_name = {name: key for key, name in names.items()}
    return {
        (by_name[subject], version): (schema_id, deleted_at is not None)
        for subject, version, schema_id, deleted_at in SubjectVersion.objects.filter(
            subject__name__in=names.values()
        ).values_list("subject__name", "version", "schema_id", "deleted_at")
    }


def test_soft_deleted_versions_are_imported_soft_deleted_and_their_messages_still_read(
    with_deleted, live_server, make_user, kafka_bootstrap, capsys
):
    names, ids = with_deleted["names"], with_deleted["ids"]

    code, out, err = _run(*with_deleted["args"], "--dry-run", capsys=capsys)
    assert code == 0, err
    soft_rows = [line for line in out.splitlines() if line.endswith("would import as soft-deleted")]
    assert sorted(line.split()[:3] for line in soft_rows) == sorted(
        [[names["order"], "1", str(ids[("order", 1)])], [names["gone"], "1", str(ids[("gone", 1)])]]
    )
    mode_rows = [line for line in out.splitlines() if " mode " in line]
    assert [line.split() for line in mode_rows] == [[names["frozen"], "mode", "READONLY", "would", "set"]]
    assert "would import 6 versions (5 schema ids), 2 of them as soft-deleted" in out and "and 1 mode;" in out
    assert SubjectVersion.objects.count() == 0

    code, out, err = _run(*with_deleted["args"], capsys=capsys)
    assert code == 0, err
    assert "Imported 6 versions (5 schema ids), 2 of them as soft-deleted" in out and "and 1 mode;" in out
    # Every id and version is kept, the soft-deleted ones soft-deleted here; the hard-deleted one is absent.
    assert _all_ours(names) == {
        ("order", 1): (ids[("order", 1)], True),
        ("order", 2): (ids[("order", 2)], False),
        ("order", 3): (ids[("order", 1)], False),
        ("gone", 1): (ids[("gone", 1)], True),
        ("frozen", 1): (ids[("frozen", 1)], False),
        ("busy", 1): (ids[("busy", 1)], False),
    }
    assert not SchemaRow.objects.filter(pk=with_deleted["dropped_id"]).exists()
    # Modes are copied after the versions are in, IMPORT excepted.
    assert selectors.subject_settings(names["frozen"]).mode == "READONLY"
    assert selectors.subject_settings(names["busy"]).mode == "READWRITE"
    assert selectors.subject_settings(names["order"]).mode == "READWRITE"

    # A re-run finds everything present, the soft-deleted versions included.
    before = (SchemaRow.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count())
    code, out, err = _run(*with_deleted["args"], capsys=capsys)
    assert code == 0, err
    assert "Nothing to import: all 6 versions already present" in out
    assert out.count("already present (soft-deleted)") == 2
    assert (SchemaRow.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count()) == before

    # Through OUR registry: the soft-deleted id resolves, the subject lists it only with ?deleted=true ...
    make_user("consumer", "viewer", password=PASSWORD)
    auth = ("consumer", PASSWORD)
    base = f"{live_server.url}/registry"
    answer = requests.get(f"{base}/schemas/ids/{ids[('gone', 1)]}", auth=auth, timeout=10)
    assert answer.status_code == 200 and answer.json()["schema"] == GONE
    gone_versions = f"{base}/subjects/{names['gone']}/versions"
    assert requests.get(gone_versions, auth=auth, timeout=10).json()["error_code"] == 40401
    assert requests.get(gone_versions, params={"deleted": "true"}, auth=auth, timeout=10).json() == [1]
    # ... and a Confluent deserializer reads the message written with it.
    ours = SchemaRegistryClient({"url": base, "basic.auth.user.info": f"consumer:{PASSWORD}", "max.retries": 0})
    try:
        deserialize = AvroDeserializer(ours)
        context = SerializationContext(with_deleted["topic"], MessageField.VALUE)
        values = [deserialize(raw, context) for raw in _consume(kafka_bootstrap, with_deleted["topic"], 1)]
    finally:
        ours.close()
    assert values == [{"id": "g-1"}]


def test_a_version_live_here_but_soft_deleted_in_the_source_is_a_conflict(with_deleted, capsys):
    names, ids = with_deleted["names"], with_deleted["ids"]
    services.mode_set(mode="IMPORT", subject=names["gone"], force=True)
    services.subject_register_version(subject=names["gone"], schema_text=GONE, id=ids[("gone", 1)], version=1)
    services.mode_delete(subject=names["gone"])
    before = (SchemaRow.objects.count(), SubjectVersion.objects.count())

    code, _out, err = _run(*with_deleted["args"], capsys=capsys)

    assert code == 1
    assert f"{names['gone']} version 1 (id {ids[('gone', 1)]}, soft-deleted): this version is live here" in err
    assert (SchemaRow.objects.count(), SubjectVersion.objects.count()) == before
