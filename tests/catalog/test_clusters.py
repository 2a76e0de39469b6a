"""Cluster services: validation, encrypted secrets, the default cluster, beat schedules, test connection.

Connection tests run against real endpoints: the shared broker, a closed port, an unresolvable
host, a listener whose backlog is full (connects time out), and a throwaway SASL/PLAIN broker
started here from the cached Kafka jars (dev/kafka.sh only makes PLAINTEXT brokers), which also
proves that an encrypted password really logs in.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django_celery_beat.models import PeriodicTask

from catalog.apps import ensure_default_cluster_and_schedules
from catalog.models import Cluster, DiscoveryRun, Topic
from catalog.services.clusters import (
    ConnectionErrorKind,
    cluster_create,
    cluster_delete,
    cluster_ensure_default,
    cluster_test_connection,
    cluster_update,
)
from catalog.services.discovery import discovery_run
from eventscope.kafka import ClusterConnection, KafkaAdmin
from eventscope.secrets import decrypt_secret
from tests.pki import make_ca

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cr3t-Pa55word-xyzzy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def schedule_of(cluster: Cluster) -> PeriodicTask:
    return PeriodicTask.objects.get(args=f"[{cluster.pk}]", task="catalog.discover_cluster")


# ---------------------------------------------------------------------------------------------
# Create, update, delete; validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_create_makes_the_cluster_and_its_beat_schedule():
    cluster = cluster_create(
        name="prod-eu", bootstrap_servers=" b1:9092, b2:9092 ", description="EU", discovery_interval_s=120
    )
    assert cluster.bootstrap_servers == "b1:9092,b2:9092"
    task = schedule_of(cluster)
    assert task.enabled and task.interval.every == 120 and task.interval.period == "seconds"
    assert task.expire_seconds == 120
    assert "prod-eu" in task.description


@pytest.mark.django_db
def test_update_and_delete_keep_the_schedule_in_step():
    cluster = cluster_create(name="prod-eu", bootstrap_servers="b1:9092")
    cluster_update(cluster=cluster, discovery_interval_s=300, discovery_enabled=False, name="prod-eu-1")
    task = schedule_of(cluster)
    assert (task.interval.every, task.enabled) == (300, False)
    assert "prod-eu-1" in task.description

    cluster_delete(cluster=cluster)
    assert not Cluster.objects.filter(name="prod-eu-1").exists()
    assert not PeriodicTask.objects.filter(args=f"[{cluster.pk}]").exists()


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": "Not a slug!"}, {"name"}),
        ({"bootstrap_servers": "localhost"}, {"bootstrap_servers"}),
        ({"bootstrap_servers": ""}, {"bootstrap_servers"}),
        ({"security_protocol": "TLS"}, {"security_protocol"}),
        ({"security_protocol": "SASL_SSL"}, {"sasl_mechanism", "sasl_username", "sasl_password"}),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u", "sasl_password": "p"},
            {"sasl_mechanism"},
        ),
        ({"discovery_interval_s": 5}, {"discovery_interval_s"}),
    ],
)
@pytest.mark.django_db
def test_invalid_settings_are_refused_per_field_and_change_nothing(fields, errors):
    values = {"name": "c1", "bootstrap_servers": "b1:9092", **fields}
    with pytest.raises(ValidationError) as raised:
        cluster_create(**values)
    assert set(raised.value.message_dict) == errors
    assert not Cluster.objects.filter(name=values["name"]).exists()
    assert all(str(m) for m in raised.value.messages)


@pytest.mark.django_db
def test_duplicate_name_is_a_validation_error():
    cluster_create(name="dup", bootstrap_servers="b1:9092")
    with pytest.raises(ValidationError) as raised:
        cluster_create(name="dup", bootstrap_servers="b2:9092")
    assert "name" in raised.value.message_dict


@pytest.mark.django_db
def test_a_refused_update_leaves_the_cluster_object_as_it_was():
    cluster = cluster_create(name="c1", bootstrap_servers="b1:9092")
    with pytest.raises(ValidationError):
        cluster_update(cluster=cluster, bootstrap_servers="nonsense", security_protocol="SASL_PLAINTEXT")
    assert (cluster.bootstrap_servers, cluster.security_protocol) == ("b1:9092", "PLAINTEXT")
    with pytest.raises(TypeError, match="is_default"):
        cluster_update(cluster=cluster, is_default=True)


@pytest.mark.django_db
def test_the_default_cluster_cannot_be_deleted():
    with pytest.raises(ValidationError, match="KAFKA_BOOTSTRAP_SERVERS"):
        cluster_delete(cluster=cluster_ensure_default())


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------
def sasl_cluster(**overrides) -> Cluster:
    values = {
        "name": "secure",
        "bootstrap_servers": "b1:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "eventscope",
        "sasl_password": PASSWORD,
        **overrides,
    }
    return cluster_create(**values)


def raw_password_column(cluster: Cluster) -> str:
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT sasl_password_encrypted FROM {Cluster._meta.db_table} WHERE id = %s", [cluster.pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_password_is_encrypted_at_rest_and_decrypts_back():
    cluster = sasl_cluster()
    raw = raw_password_column(cluster)
    assert raw and raw != PASSWORD and PASSWORD not in raw
    assert decrypt_secret(raw) == PASSWORD
    assert Cluster.objects.get(pk=cluster.pk).connection().sasl_password == PASSWORD


@pytest.mark.django_db
def test_update_password_none_keeps_it_empty_clears_it_a_value_replaces_it():
    cluster = sasl_cluster()
    cluster_update(cluster=cluster, description="kept", sasl_password=None)
    assert decrypt_secret(raw_password_column(cluster)) == PASSWORD

    cluster_update(cluster=cluster, sasl_password="another-one")
    assert decrypt_secret(raw_password_column(cluster)) == "another-one"

    with pytest.raises(ValidationError) as raised:  # SASL without a password cannot work
        cluster_update(cluster=cluster, sasl_password="")
    assert "sasl_password" in raised.value.message_dict
    assert decrypt_secret(raw_password_column(cluster)) == "another-one"

    cluster_update(cluster=cluster, security_protocol="SSL", sasl_mechanism="", sasl_username="", sasl_password="")
    assert raw_password_column(cluster) == "" and not Cluster.objects.get(pk=cluster.pk).has_sasl_password


@pytest.mark.django_db
def test_the_password_never_shows_in_repr_str_logs_messages_or_run_errors(caplog, settings):
    settings.KAFKA_REQUEST_TIMEOUT_S = 1
    caplog.set_level(logging.DEBUG)
    cluster = sasl_cluster(bootstrap_servers=f"127.0.0.1:{free_port()}", security_protocol="SASL_PLAINTEXT")
    cluster_update(cluster=cluster, sasl_password=PASSWORD + "2")
    cluster_update(cluster=cluster, sasl_password=PASSWORD)

    result = cluster_test_connection(cluster=cluster)
    run = discovery_run(cluster_id=cluster.pk, trigger="test")

    assert run.status == DiscoveryRun.Status.FAILED
    for text in (
        repr(cluster),
        str(cluster),
        repr(cluster.connection()),
        result.message,
        repr(result),
        run.error,
        caplog.text,
    ):
        assert PASSWORD not in text
    assert "test connection" in caplog.text  # the log was there to be searched


# ---------------------------------------------------------------------------------------------
# The default cluster and the schedules
# ---------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_migrate_made_the_default_cluster_from_settings_with_its_schedule(settings):
    default = Cluster.objects.get(is_default=True)  # made by the post_migrate handler
    assert default.name == "default"
    assert default.bootstrap_servers == settings.KAFKA_BOOTSTRAP_SERVERS
    assert schedule_of(default).enabled


@pytest.mark.django_db
def test_ensure_default_follows_the_settings_and_keeps_what_people_set(settings, tmp_path):
    default = cluster_ensure_default()
    cluster_update(cluster=default, name="main", description="Our cluster", discovery_interval_s=90)

    ca = tmp_path / "ca.pem"
    ca.write_text(make_ca().certificate_pem)  # a real one: the services parse the CA
    settings.KAFKA_BOOTSTRAP_SERVERS = "broker-1:9093,broker-2:9093"
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    settings.KAFKA_SASL_MECHANISM = "SCRAM-SHA-256"
    settings.KAFKA_SASL_USERNAME = "eventscope"
    settings.KAFKA_SASL_PASSWORD = PASSWORD
    settings.KAFKA_SSL_CA_FILE = str(ca)
    updated = cluster_ensure_default()

    assert updated.pk == default.pk and Cluster.objects.filter(is_default=True).count() == 1
    assert (updated.name, updated.description, updated.discovery_interval_s) == ("main", "Our cluster", 90)
    assert updated.bootstrap_servers == "broker-1:9093,broker-2:9093"
    assert (updated.security_protocol, updated.sasl_mechanism, updated.sasl_username) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        "eventscope",
    )
    assert updated.ssl_ca_pem.startswith("-----BEGIN")
    assert decrypt_secret(raw_password_column(updated)) == PASSWORD
    assert schedule_of(updated).interval.every == 90

    # Unchanged settings: nothing is written (the encrypted password is not re-encrypted either).
    stamp = Cluster.objects.get(pk=default.pk).updated_at
    raw = raw_password_column(updated)
    cluster_ensure_default()
    assert Cluster.objects.get(pk=default.pk).updated_at == stamp
    assert raw_password_column(updated) == raw


@pytest.mark.django_db
def test_ensure_default_refuses_unusable_settings_with_a_clear_error(settings):
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_PLAINTEXT"
    settings.KAFKA_SASL_MECHANISM = "PLAIN"
    settings.KAFKA_SASL_USERNAME = None
    settings.KAFKA_SASL_PASSWORD = None
    with pytest.raises(ValidationError) as raised:
        cluster_ensure_default()
    assert "sasl_username" in raised.value.message_dict
    assert Cluster.objects.get(is_default=True).security_protocol == "PLAINTEXT"  # unchanged


@pytest.mark.django_db
def test_ensure_default_adopts_a_cluster_named_default():
    Cluster.objects.filter(is_default=True).delete()  # as on a database from before there was a default
    PeriodicTask.objects.all().delete()
    existing = Cluster.objects.create(name="default", bootstrap_servers="old:9092")
    adopted = cluster_ensure_default()
    assert adopted.pk == existing.pk and adopted.is_default


@pytest.mark.django_db
def test_reconcile_repairs_schedules_changed_behind_the_services_back():
    cluster = cluster_create(name="c1", bootstrap_servers="b1:9092", discovery_interval_s=30)
    Cluster.objects.filter(pk=cluster.pk).update(discovery_interval_s=45, discovery_enabled=False)
    orphan = cluster_create(name="c2", bootstrap_servers="b1:9092")
    Cluster.objects.filter(pk=orphan.pk).delete()

    ensure_default_cluster_and_schedules()

    task = schedule_of(cluster)
    assert (task.interval.every, task.enabled) == (45, False)
    assert not PeriodicTask.objects.filter(args=f"[{orphan.pk}]").exists()
    assert schedule_of(Cluster.objects.get(is_default=True))


# ---------------------------------------------------------------------------------------------
# Test connection
# ---------------------------------------------------------------------------------------------
@pytest.mark.kafka
@pytest.mark.django_db
def test_test_connection_ok(kafka_bootstrap):
    result = cluster_test_connection(cluster=cluster_create(name="ok", bootstrap_servers=kafka_bootstrap))
    assert result.ok and result.error_kind is None
    assert result.broker_count >= 1
    assert result.message.startswith("Connected to Kafka cluster")
    assert result.duration_ms >= 0


@pytest.mark.django_db
def test_test_connection_refused():
    port = free_port()
    result = cluster_test_connection(cluster=cluster_create(name="c", bootstrap_servers=f"127.0.0.1:{port}"))
    assert not result.ok and result.error_kind is ConnectionErrorKind.REFUSED
    assert result.message.startswith("The connection was refused")
    assert f"127.0.0.1:{port}: connection refused" in result.message
    assert result.broker_count == 0


@pytest.mark.django_db
def test_test_connection_unknown_host():
    cluster = cluster_create(name="c", bootstrap_servers="no-such-host.invalid:9092")
    result = cluster_test_connection(cluster=cluster, timeout_s=5)
    assert not result.ok and result.error_kind is ConnectionErrorKind.UNKNOWN_HOST
    assert "does not resolve" in result.message and "no-such-host.invalid:9092: unknown host" in result.message


@pytest.mark.django_db
def test_test_connection_timeout():
    # A listener that never accepts: once its backlog is full the kernel drops new SYNs, and a
    # connect waits until it gives up, as behind a firewall that drops the traffic.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.create_connection(("127.0.0.1", port), timeout=1)]
        try:
            cluster = cluster_create(name="c", bootstrap_servers=f"127.0.0.1:{port}")
            started = time.monotonic()
            result = cluster_test_connection(cluster=cluster, timeout_s=1.5)
        finally:
            for filler in fillers:
                filler.close()
    assert not result.ok and result.error_kind is ConnectionErrorKind.TIMEOUT
    assert result.message.startswith("No answer within 1.5 s")
    assert time.monotonic() - started < 10


@pytest.mark.django_db
def test_test_connection_with_a_password_the_keys_cannot_decrypt():
    cluster = sasl_cluster()
    Cluster.objects.filter(pk=cluster.pk).update(sasl_password_encrypted="not-a-fernet-token")
    cluster.refresh_from_db()
    result = cluster_test_connection(cluster=cluster)
    assert result.error_kind is ConnectionErrorKind.CONFIGURATION
    assert "enter the password again" in result.message


# ---------------------------------------------------------------------------------------------
# A real SASL/PLAIN broker: good and bad credentials, end to end through the encrypted password
# ---------------------------------------------------------------------------------------------
def _kafka_libs() -> Path:
    version = re.search(r"^KAFKA_VERSION=(\S+)$", (ROOT / "dev" / "kafka.sh").read_text(), re.MULTILINE).group(1)
    cache = Path(os.environ.get("EVENTSCOPE_CACHE_DIR") or Path.home() / ".cache" / "eventscope")
    return cache / f"kafka-{version}" / "libs"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    """A throwaway single-node KRaft broker with one SASL_PLAINTEXT listener (users alice and admin)."""
    libs = _kafka_libs()
    if not libs.is_dir():
        subprocess.run(["bash", str(ROOT / "dev" / "kafka.sh"), "fetch"], check=True, capture_output=True)
    state = tmp_path_factory.mktemp("sasl-kafka")
    port, controller = free_port(), free_port()
    (state / "server.properties").write_text(
        f"""process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
required username="admin" password="admin-pw" user_admin="admin-pw" user_alice="{PASSWORD}";
log.dirs={state}/data
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
"""
    )
    (state / "log4j2.properties").write_text(
        f"""status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {state}/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
"""
    )
    java = [os.environ.get("JAVA", "java"), f"-Dlog4j2.configurationFile={state}/log4j2.properties", "-cp", f"{libs}/*"]
    # Kafka's cluster ids are url-safe base64 of 16 random bytes (what StorageTool random-uuid prints).
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "A", 1)
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            f"{state}/server.properties",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    broker = subprocess.Popen(
        [*java[:1], "-Xmx512m", *java[1:], "kafka.Kafka", f"{state}/server.properties"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bootstrap = f"127.0.0.1:{port}"
    try:
        admin = KafkaAdmin(
            ClusterConnection(
                bootstrap_servers=bootstrap,
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN",
                sasl_username="alice",
                sasl_password=PASSWORD,
                timeout_s=5,
            )
        )
        deadline = time.monotonic() + 120
        while True:
            assert broker.poll() is None, f"the SASL broker exited; see {state}/kafka.log"
            try:
                admin.cluster_metadata()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        admin.create_topic("sasl-topic", partitions=2)
        yield bootstrap
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


@pytest.mark.kafka
@pytest.mark.django_db
def test_sasl_login_with_the_stored_encrypted_password_works_for_test_connection_and_discovery(sasl_broker, caplog):
    caplog.set_level(logging.DEBUG)
    cluster = sasl_cluster(
        bootstrap_servers=sasl_broker, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="alice"
    )
    cluster = Cluster.objects.get(pk=cluster.pk)  # from the database: only the ciphertext is there

    result = cluster_test_connection(cluster=cluster)
    assert result.ok, result.message
    run = discovery_run(cluster_id=cluster.pk, trigger="test")
    assert run.status == DiscoveryRun.Status.SUCCEEDED, run.error
    assert Topic.objects.get(cluster=cluster, name="sasl-topic").partition_count == 2
    assert PASSWORD not in caplog.text


@pytest.mark.kafka
@pytest.mark.django_db
def test_sasl_login_with_a_wrong_password_is_reported_as_bad_credentials(sasl_broker, caplog, settings):
    settings.KAFKA_REQUEST_TIMEOUT_S = 3
    caplog.set_level(logging.DEBUG)
    cluster = sasl_cluster(
        bootstrap_servers=sasl_broker,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password="wrong-" + PASSWORD,
    )
    result = cluster_test_connection(cluster=cluster)
    assert not result.ok and result.error_kind is ConnectionErrorKind.BAD_CREDENTIALS
    assert "check the username and password" in result.message
    run = discovery_run(cluster_id=cluster.pk, trigger="test")
    assert run.status == DiscoveryRun.Status.FAILED
    for text in (result.message, run.error, caplog.text):
        assert "wrong-" + PASSWORD not in text
