"""The stand-in for a team's existing registry answers Confluent's client, with its own ids."""

from confluent_kafka.schema_registry import Schema


def test_the_second_registry_is_a_separate_confluent_compatible_registry(second_registry, unique_name):
    client = second_registry.client()
    schema = Schema('{"type": "record", "name": "Probe", "fields": [{"name": "id", "type": "string"}]}', "AVRO")
    schema_id = client.register_schema(f"{unique_name}-value", schema)

    assert client.get_schema(schema_id).schema_str.replace(" ", "") == schema.schema_str.replace(" ", "")
    assert f"{unique_name}-value" in client.get_subjects()
