"""The REST source reads a Confluent-compatible registry (a second Eventscope process) into a snapshot."""

import json
import socket

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference

from schemas.external.rest import RestRegistrySource, public_url
from schemas.external.snapshot import ExternalVersion, RegistrySourceError


def _avro(name: str, *fields: str) -> Schema:
    # Fields after the first have a default, so that adding one is a backward-compatible change.
    body = {"type": "record", "name": name, "fields": [{"name": fields[0], "type": "string"}]}
    body["fields"] += [{"name": f, "type": "string", "default": ""} for f in fields[1:]]
    return Schema(json.dumps(body), "AVRO")


def _source(second_registry, **kwargs) -> RestRegistrySource:
    kwargs.setdefault("username", second_registry.username)
    kwargs.setdefault("password", second_registry.password)
    return RestRegistrySource(second_registry.url, **kwargs)


def test_fetch_reads_versions_ids_types_references_and_configs(second_registry, unique_name):
    client = second_registry.client()
    base, user = f"{unique_name}.base", f"{unique_name}-value"
    base_id = client.register_schema(base, _avro("Money", "currency"))
    v1 = client.register_schema(user, _avro("Order", "id"))
    with_ref = Schema(
        json.dumps(
            {
                "type": "record",
                "name": "Order",
                "fields": [{"name": "id", "type": "string"}, {"name": "m", "type": ["null", "Money"], "default": None}],
            }
        ),
        "AVRO",
        [SchemaReference("Money", base, 1)],
    )
    v2 = client.register_schema(user, with_ref)
    json_subject = f"{unique_name}.json-value"
    json_id = client.register_schema(json_subject, Schema('{"type": "object"}', "JSON"))
    client.set_compatibility(user, "FULL")

    with _source(second_registry) as source:
        snapshot = source.fetch()

    mine = [v for v in snapshot.versions if v.subject.startswith(unique_name)]
    assert {(v.subject, v.version, v.schema_id) for v in mine} == {
        (base, 1, base_id),
        (user, 1, v1),
        (user, 2, v2),
        (json_subject, 1, json_id),
    }
    assert snapshot.schemas[v2].references[0].name == "Money"
    assert snapshot.schemas[v2].references[0].subject == base
    assert snapshot.schemas[json_id].schema_type == "JSON"
    assert snapshot.schemas[v1].schema_type == "AVRO"
    assert snapshot.subject_compatibility[user] == "FULL"
    assert base not in snapshot.subject_compatibility
    assert snapshot.global_compatibility == "BACKWARD"
    assert snapshot.global_mode == "READWRITE"

    with _source(second_registry) as source:
        again = source.fetch(frozenset({v1, v2}))
    assert v1 not in again.schemas and v2 not in again.schemas and base_id in again.schemas


def test_soft_deleted_versions_come_apart_with_their_texts_and_hard_deleted_ones_not_at_all(
    second_registry, unique_name
):
    client = second_registry.client()
    subject, gone, dropped = f"{unique_name}-value", f"{unique_name}-gone-value", f"{unique_name}-dropped-value"
    first = client.register_schema(subject, _avro("A", "x"))
    second = client.register_schema(subject, _avro("A", "x", "y"))
    gone_id = client.register_schema(gone, _avro("G", "x"))
    client.register_schema(dropped, _avro("D", "x"))
    client.delete_version(subject, 1)
    client.delete_subject(gone)  # every version soft-deleted: the subject is listed with ?deleted=true only
    client.delete_subject(dropped)
    client.delete_subject(dropped, permanent=True)

    with _source(second_registry) as source:
        snapshot = source.fetch()

    assert snapshot.versions_of(subject) == (ExternalVersion(subject, 2, second),)
    mine = {v for v in snapshot.deleted_versions if v.subject.startswith(unique_name)}
    assert mine == {ExternalVersion(subject, 1, first), ExternalVersion(gone, 1, gone_id)}
    assert snapshot.schemas[first].schema == _avro("A", "x").schema_str
    assert snapshot.schemas[gone_id].schema == _avro("G", "x").schema_str
    assert gone not in snapshot.subjects and gone in snapshot.all_subjects
    assert dropped not in snapshot.all_subjects

    with _source(second_registry) as source:
        again = source.fetch(frozenset({first}))
    assert first not in again.schemas and gone_id in again.schemas


def test_check_compatibility_uses_the_registry_endpoint(second_registry, unique_name):
    client = second_registry.client()
    subject = f"{unique_name}-value"
    client.register_schema(subject, _avro("A", "x"))
    with _source(second_registry) as source:
        ok, messages = source.check_compatibility(
            subject,
            json.dumps(
                {
                    "type": "record",
                    "name": "A",
                    "fields": [{"name": "x", "type": "string"}, {"name": "y", "type": "string", "default": ""}],
                }
            ),
        )
        assert ok and messages == []
        breaking = {
            "type": "record",
            "name": "A",
            "fields": [{"name": "x", "type": "string"}, {"name": "z", "type": "string"}],
        }
        ok, messages = source.check_compatibility(subject, json.dumps(breaking))
        assert not ok and messages and "z" in " ".join(messages)
        assert source.check_compatibility(f"{unique_name}-nothing", _avro("B", "x").schema_str) == (True, [])


def test_wrong_credentials_are_a_clear_error_without_the_password(second_registry):
    with pytest.raises(RegistrySourceError) as caught:
        _source(second_registry, password="wrong-secret-123").fetch()
    assert "refused the credentials" in str(caught.value)
    assert "wrong-secret-123" not in str(caught.value)


def test_bearer_token_that_is_not_valid_is_refused(second_registry):
    with pytest.raises(RegistrySourceError, match="refused the credentials"):
        RestRegistrySource(second_registry.url, bearer_token="esk_not-a-token-secret").fetch()


def test_unreachable_url_and_non_json_answers_are_clear_errors(second_registry):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RegistrySourceError, match="unreachable: connection refused"):
        RestRegistrySource(f"http://user:pw-in-url@127.0.0.1:{port}/registry").fetch()
    base = second_registry.url.removesuffix("/registry")
    with pytest.raises(RegistrySourceError, match="not JSON"):
        RestRegistrySource(f"{base}/healthz-not-a-registry", username="x", password="y").fetch()
    with pytest.raises(RegistrySourceError, match="not an http"):
        RestRegistrySource("ftp://example.com")


def test_public_url_drops_credentials():
    assert public_url("https://u:secret@sr.example.com:8081/base/") == "https://sr.example.com:8081/base"
