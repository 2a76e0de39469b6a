"""The mirror follows an existing registry (a second Eventscope process written to with Confluent's client):
new versions, soft and permanent deletes and config changes; a sync without changes writes nothing; a
registry that cannot be read leaves a clear error on the row and the page, never a 500."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from governance.models import AuditEntry
from schemas.external.mirror import external_registry_sync
from schemas.external.services import external_registry_delete, external_registry_update
from schemas.models_external import ExternalRegistry, MirroredSchema, MirroredSubject, MirroredVersion
from tests.schemas.external.helpers import avro, closed_port_url, connect

pytestmark = pytest.mark.django_db


def _mirrored(registry, prefix: str) -> dict[tuple[str, int], int]:
    rows = MirroredVersion.objects.filter(subject__registry=registry, subject__name__startswith=prefix)
    return {(name, v): sid for name, v, sid in rows.values_list("subject__name", "version", "schema__schema_id")}


def test_the_mirror_follows_new_versions_deletes_and_config_changes(second_registry, unique_name):
    client = second_registry.client()
    orders, refunds = f"{unique_name}.orders-value", f"{unique_name}.refunds-value"
    o1 = client.register_schema(orders, avro("Order", "id"))
    o2 = client.register_schema(orders, avro("Order", "id", "note"))
    r1 = client.register_schema(refunds, avro("Refund", "id"))
    client.set_compatibility(orders, "FULL")
    registry = connect(second_registry)

    first = external_registry_sync(registry_id=registry.pk)

    assert first.ok, first.error
    assert _mirrored(registry, unique_name) == {(orders, 1): o1, (orders, 2): o2, (refunds, 1): r1}
    assert MirroredSubject.objects.get(registry=registry, name=orders).compatibility == "FULL"
    assert MirroredSubject.objects.get(registry=registry, name=refunds).compatibility == ""
    text = MirroredSchema.objects.get(registry=registry, schema_id=o2)
    assert text.schema_type == "AVRO" and '"note"' in text.text
    registry.refresh_from_db()
    assert registry.last_synced_at is not None and registry.last_error == ""
    assert registry.global_compatibility == "BACKWARD"

    # The registry changes: a new version, a soft delete, a permanent delete, a config change.
    o3 = client.register_schema(orders, avro("Order", "id", "note", "channel"))
    client.delete_version(orders, 1)
    client.delete_subject(refunds)
    client.delete_subject(refunds, permanent=True)
    client.set_compatibility(orders, "BACKWARD_TRANSITIVE")

    second = external_registry_sync(registry_id=registry.pk)

    assert second.ok, second.error
    assert _mirrored(registry, unique_name) == {(orders, 2): o2, (orders, 3): o3}
    assert not MirroredSubject.objects.filter(registry=registry, name=refunds).exists()
    assert MirroredSubject.objects.get(registry=registry, name=orders).compatibility == "BACKWARD_TRANSITIVE"
    counts = second.counts
    assert (counts.versions_added, counts.versions_deleted, counts.subjects_deleted) == (1, 2, 1)
    assert counts.subjects_updated == 1 and counts.schemas_added == 1
    # Schema texts stay when their versions go: an id keeps its meaning (old records still decode).
    assert MirroredSchema.objects.filter(registry=registry, schema_id=o1).exists()

    # Deleting the config falls back to the global level.
    second_registry_config_reset(client, orders)
    external_registry_sync(registry_id=registry.pk)
    assert MirroredSubject.objects.get(registry=registry, name=orders).compatibility == ""


def second_registry_config_reset(client, subject: str) -> None:
    """DELETE /config/{subject} (older confluent-kafka clients have no method for it)."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        client._rest_client.delete(f"config/{subject}")
    except SchemaRegistryError as exc:  # 40408 when already gone: that is the state we want
        assert "40408" in str(exc) or "not have subject-level compatibility" in str(exc), exc


def test_a_sync_without_changes_writes_nothing_but_the_sync_time(second_registry, unique_name):
    client = second_registry.client()
    client.register_schema(f"{unique_name}-value", avro("Quiet", "id"))
    registry = connect(second_registry)
    assert external_registry_sync(registry_id=registry.pk).ok

    with CaptureQueriesContext(connection) as queries:
        again = external_registry_sync(registry_id=registry.pk)

    assert again.ok and again.counts.total == 0 and again.counts.summary() == "no changes"
    writes = [
        q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert len(writes) == 1 and "schemas_externalregistry" in writes[0] and "last_synced_at" in writes[0], writes
    # Texts of ids already held are not fetched again: the source was given every id the mirror holds.
    registry.refresh_from_db()
    assert registry.last_sync_summary == "no changes"


def test_wrong_credentials_are_a_clear_error_on_the_row_and_the_page(second_registry, client, make_user):
    registry = connect(second_registry, secret="not-the-password-42")

    result = external_registry_sync(registry_id=registry.pk)

    assert not result.ok
    registry.refresh_from_db()
    assert "refused the credentials" in registry.last_error
    assert "not-the-password-42" not in registry.last_error
    client.force_login(make_user("vera", "viewer"))
    page = client.get(f"/schemas/external/{registry.name}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "The last sync failed" in body and "refused the credentials" in body
    assert "not-the-password-42" not in body
    listing = client.get("/schemas/external/").content.decode()
    assert "failing" in listing


def test_an_unreachable_registry_is_a_clear_error_and_the_command_exits_1(second_registry):
    registry = connect(second_registry, name="gone", url=closed_port_url(), auth_kind="none", secret=None)

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_code:
        call_command("mirror_registry", "--name", "gone", stdout=out, stderr=err)

    assert exit_code.value.code == 1
    assert "unreachable: connection refused" in err.getvalue()
    registry.refresh_from_db()
    assert "unreachable: connection refused" in registry.last_error and registry.last_synced_at is None


def test_the_command_mirrors_with_progress_and_refuses_an_unknown_name(second_registry, unique_name):
    second_registry.client().register_schema(f"{unique_name}-value", avro("Cmd", "id"))
    connect(second_registry)
    out = io.StringIO()
    call_command("mirror_registry", "--name", "confluent-prod", stdout=out)
    text = out.getvalue()
    assert "reading http://127.0.0.1" in text and "confluent-prod:" in text and "versions mirrored" in text
    assert MirroredSubject.objects.filter(name=f"{unique_name}-value").exists()

    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown external registry 'nope'") as caught:
        call_command("mirror_registry", "--name", "nope")
    assert caught.value.returncode == 2  # the exit code of manage.py


def test_secret_is_encrypted_and_audited_without_its_value(second_registry):
    registry = connect(second_registry, name="audited")
    assert second_registry.password not in registry.secret_encrypted
    assert registry.secret() == second_registry.password

    external_registry_update(registry=registry, mode="instead", secret="a-new-password-7")

    entries = list(AuditEntry.objects.filter(object_type="schemas.ExternalRegistry", object_id=str(registry.pk)))
    assert sorted(entry.action for entry in entries) == ["create", "update"]
    update = next(entry for entry in entries if entry.action == "update")
    assert set(update.changed) >= {"mode", "secret_encrypted"}
    dumped = str([(e.before, e.after) for e in entries])
    assert second_registry.password not in dumped and "a-new-password-7" not in dumped
    assert registry.secret_encrypted not in dumped


def test_schedule_follows_the_registry_and_goes_with_it(second_registry):
    registry = connect(second_registry, name="scheduled", sync_interval_s=120)
    entry = PeriodicTask.objects.get(name=f"schemas: sync external registry {registry.pk}")
    assert entry.task == "schemas.sync_external_registry" and entry.interval.every == 120 and entry.enabled
    external_registry_update(registry=registry, sync_enabled=False)
    assert not PeriodicTask.objects.get(pk=entry.pk).enabled
    external_registry_sync(registry_id=registry.pk)
    external_registry_delete(registry=registry)
    assert not PeriodicTask.objects.filter(pk=entry.pk).exists()
    assert not ExternalRegistry.objects.filter(name="scheduled").exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "ftp://x"}, "url"),
        ({"url": "http://u:p@host/registry"}, "url"),
        ({"auth_kind": "basic", "username": ""}, "username"),
        ({"auth_kind": "bearer", "secret": None}, "secret"),
        ({"ca_pem": "not a pem"}, "ca_pem"),
        ({"source_kind": "storage_topic", "cluster": None}, "cluster"),
        ({"sync_interval_s": 1}, "sync_interval_s"),
    ],
)
def test_bad_settings_are_refused_field_by_field(second_registry, fields, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        connect(second_registry, name="bad", **fields)
    assert field in caught.value.message_dict
    assert not ExternalRegistry.objects.filter(name="bad").exists()


def test_versions_soft_deleted_before_the_first_sync_are_not_mirrored_but_their_texts_are(second_registry, unique_name):
    client = second_registry.client()
    orders, gone = f"{unique_name}.orders-value", f"{unique_name}.gone-value"
    o1 = client.register_schema(orders, avro("Order", "id"))
    o2 = client.register_schema(orders, avro("Order", "id", "note"))
    g1 = client.register_schema(gone, avro("Gone", "id"))
    client.delete_version(orders, 1)
    client.delete_subject(gone)
    registry = connect(second_registry)

    result = external_registry_sync(registry_id=registry.pk)

    assert result.ok, result.error
    # The mirror shows live versions only ...
    assert _mirrored(registry, unique_name) == {(orders, 2): o2}
    assert not MirroredSubject.objects.filter(registry=registry, name=gone).exists()
    # ... but keeps the texts of the soft-deleted ones: records written with them still decode.
    held = MirroredSchema.objects.filter(registry=registry, schema_id__in=[o1, g1])
    assert {row.schema_id: row.text for row in held} == {
        o1: avro("Order", "id").schema_str,
        g1: avro("Gone", "id").schema_str,
    }
    # A second sync finds nothing to change.
    again = external_registry_sync(registry_id=registry.pk)
    assert again.ok and again.counts.total == 0
