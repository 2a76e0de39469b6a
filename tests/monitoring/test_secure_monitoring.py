"""Lag, trace indexing and live payloads over the secured listeners of the test broker (fixture `secure_kafka`).

For each way in (SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN over TLS, and mutual TLS) a cluster produces,
consumes and commits through the gateway, is discovered, has its lag polled, its records indexed into
traces and a payload fetched back: every Kafka call of the pipeline runs over that listener. With a
wrong password each of them fails with the same clear cause, and the password appears nowhere.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Cluster, ConsumerGroup
from catalog.services.clusters import cluster_create
from catalog.services.discovery import discovery_run
from eventscope.kafka import EventConsumer, EventProducer, KafkaAdmin, PartitionOffset
from monitoring.indexer import TraceIndexer
from monitoring.lag import lag_poll
from monitoring.models import GroupLagState, LagPollRun, TraceEvent, TracingSettings
from monitoring.payloads import payload_fetch

pytestmark = [pytest.mark.kafka, pytest.mark.django_db]

RECORDS_PER_PARTITION = 10
COMMITTED = {0: 6, 1: 4}  # the group's committed offsets: lag (10 - 6) + (10 - 4) = 10


def secured_cluster(secure_kafka, listener: str, name: str, **overrides) -> Cluster:
    cluster = cluster_create(
        name=name[:90], discovery_enabled=False, **{**secure_kafka.cluster_settings(listener), **overrides}
    )
    return Cluster.objects.get(pk=cluster.pk)


@pytest.fixture
def secured_traffic(secure_kafka, unique_name):
    """A topic with 2 x 10 JSON records carrying correlation ids, and a group with committed offsets, all
    written over the SCRAM-SHA-512 listener through the gateway; topic and group are deleted after."""
    writer = secured_cluster(secure_kafka, "scram-sha-512", f"{unique_name}-writer")
    connection = writer.connection()
    admin = KafkaAdmin(connection)
    topic, group = f"{unique_name}-orders", f"{unique_name}-group"
    admin.create_topic(topic, partitions=2)
    with EventProducer(connection) as producer:
        for n in range(2 * RECORDS_PER_PARTITION):
            body = {"correlation_id": f"{unique_name}-c{n % 5}", "n": n, "note": "over TLS"}
            producer.produce(topic, json.dumps(body), key=f"k{n}", partition=n % 2)
    with EventConsumer(connection, group_id=group) as consumer:
        consumer.assign([PartitionOffset(topic, p, 0) for p in (0, 1)])
        records = []
        for _ in range(60):
            records += consumer.poll_batch(max_records=100, timeout_s=0.5)
            if len(records) >= 2 * RECORDS_PER_PARTITION:
                break
        assert len(records) == 2 * RECORDS_PER_PARTITION
        consumer.commit([r for r in records if r.offset < COMMITTED[r.partition]])
    Cluster.objects.filter(pk=writer.pk).delete()
    yield topic, group
    admin.delete_consumer_groups([group])
    admin.delete_topics([topic])


@pytest.mark.parametrize("listener", ["scram-sha-256", "scram-sha-512", "plain", "mtls"])
def test_lag_tracing_and_payloads_work_over_each_secured_listener(
    secure_kafka, secured_traffic, unique_name, make_user, listener, caplog
):
    caplog.set_level(logging.DEBUG)
    topic, group = secured_traffic
    cluster = secured_cluster(secure_kafka, listener, f"{unique_name}-{listener}")

    run = discovery_run(cluster_id=cluster.pk, trigger="test")
    assert run.status == "succeeded", run.error
    assert ConsumerGroup.objects.filter(cluster=cluster, group_id=group).exists()

    # Lag: committed offsets, log ends and (exact mode) record timestamps, all read over the listener.
    lag = lag_poll(cluster_id=cluster.pk, trigger="test")
    assert lag.status == LagPollRun.Status.OK, lag.error
    state = GroupLagState.objects.get(group__cluster=cluster, group__group_id=group)
    assert state.total_lag == sum(RECORDS_PER_PARTITION - offset for offset in COMMITTED.values())
    assert {row["partition"]: row["lag"] for row in state.partitions} == {
        p: RECORDS_PER_PARTITION - offset for p, offset in COMMITTED.items()
    }

    # Tracing: the indexer consumes every record over the listener; the chain reads back through the API.
    TracingSettings.objects.create(cluster=cluster, include_patterns=[topic])
    with TraceIndexer(cluster, batch_size=50) as indexer:
        progress = indexer.run_until_caught_up(max_s=60, unreachable_s=20)
    assert progress.last_error == "", progress.last_error
    assert progress.records_indexed == 2 * RECORDS_PER_PARTITION
    api = APIClient()
    api.force_authenticate(make_user("vera", "viewer"))
    chain = api.get(f"/api/v1/traces/{unique_name}-c3")
    assert chain.status_code == 200, chain.content
    # c3 is on records n = 3, 8, 13, 18: partition n % 2, offset n // 2.
    assert {(e["partition"], e["offset"]) for e in chain.json()["events"]} == {(1, 1), (0, 4), (1, 6), (0, 9)}

    # The whole payload of one indexed record, fetched live over the listener.
    event = TraceEvent.objects.filter(cluster=cluster, correlation_id=f"{unique_name}-c3").order_by("offset").first()
    payload = payload_fetch(event=event)
    assert payload.error == "", payload.error
    assert json.loads(payload.text)["note"] == "over TLS"
    assert secure_kafka.password not in caplog.text


def test_a_wrong_password_fails_lag_indexing_and_payload_fetch_with_the_same_clear_cause(
    secure_kafka, secured_traffic, unique_name, settings, caplog
):
    settings.KAFKA_REQUEST_TIMEOUT_S = 8
    caplog.set_level(logging.DEBUG)
    topic, _group = secured_traffic
    wrong = "wrong-" + secure_kafka.password
    cluster = secured_cluster(secure_kafka, "scram-sha-256", f"{unique_name}-bad", sasl_password=wrong)
    cause = "SASL authentication failed: check the username and password"

    lag = lag_poll(cluster_id=cluster.pk, trigger="test")
    assert lag.status == LagPollRun.Status.FAILED
    assert cause in lag.error

    TracingSettings.objects.create(cluster=cluster, include_patterns=[topic])
    with TraceIndexer(cluster, batch_size=50) as indexer:
        progress = indexer.run_until_caught_up(max_s=30, unreachable_s=2)
    assert progress.records_indexed == 0
    assert cause in progress.last_error

    event = TraceEvent.objects.create(
        correlation_id=f"{unique_name}-c1",
        cluster=cluster,
        topic=topic,
        partition=1,
        offset=0,
        timestamp=timezone.now(),
        payload_excerpt="{}",
        payload_encoding="json",
    )
    payload = payload_fetch(event=event, timeout_s=8)
    assert payload.text == ""
    assert cause in payload.error
    for text in (lag.error, progress.last_error, payload.error, caplog.text):
        assert wrong not in text
