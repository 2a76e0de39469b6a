"""Whole payloads read back from the real broker by their coordinates, for events the index only excerpts."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from catalog.services.clusters import cluster_create
from eventscope.kafka import ClusterConnection, EventProducer, KafkaAdmin
from monitoring.extraction import EXCERPT_CUT_MARKER
from monitoring.models import TraceEvent

pytestmark = [pytest.mark.kafka, pytest.mark.django_db]


@pytest.fixture
def big_record(kafka_bootstrap, unique_name):
    """A 20 kB JSON record on a fresh topic, and its index row holding only a cut excerpt."""
    connection = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    KafkaAdmin(connection).create_topic(unique_name, partitions=1)
    body = {"order_id": "ord-1", "lines": [{"sku": f"SKU-{n:05d}", "qty": n} for n in range(600)], "end": "TAIL"}
    with EventProducer(connection) as producer:
        producer.produce(unique_name, json.dumps(body), key="ord-1", headers={"correlation_id": "corr-live"})
    cluster = cluster_create(name=unique_name[:100], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    TraceEvent.objects.create(
        correlation_id="corr-live",
        cluster=cluster,
        topic=unique_name,
        partition=0,
        offset=0,
        timestamp=timezone.now(),
        key="ord-1",
        size=len(json.dumps(body)),
        payload_excerpt=json.dumps(body)[:2000] + EXCERPT_CUT_MARKER,
        payload_encoding="json",
    )
    return unique_name


def test_a_cut_payload_offers_the_whole_one_and_fetches_it_from_kafka(client, make_user, big_record):
    client.force_login(make_user("vera", "viewer"))
    page = client.get("/traces/corr-live/").content.decode()
    assert "Load the whole payload from Kafka" in page
    assert "TAIL" not in page

    response = client.get(
        "/traces/corr-live/payload/", {"topic": big_record, "partition": 0, "offset": 0}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "&quot;end&quot;: &quot;TAIL&quot;" in html  # the very end of the record, pretty-printed and escaped
    assert "SKU-00599" in html


def test_only_records_of_the_chain_can_be_fetched(client, make_user, big_record):
    client.force_login(make_user("vera", "viewer"))
    other = client.get("/traces/someone-else/payload/", {"topic": big_record, "partition": 0, "offset": 0})
    assert other.status_code == 404
    bad = client.get("/traces/corr-live/payload/", {"topic": big_record, "partition": "x", "offset": 0})
    assert bad.status_code == 400


def test_a_record_gone_from_the_broker_is_a_clear_message(client, make_user, big_record):
    event = TraceEvent.objects.get(correlation_id="corr-live")
    TraceEvent.objects.filter(pk=event.pk).update(offset=5)  # nothing was ever written there
    client.force_login(make_user("vera", "viewer"))
    response = client.get("/traces/corr-live/payload/", {"topic": big_record, "partition": 0, "offset": 5})
    assert response.status_code == 200
    # Kafka answers "offset out of range" and the consumer falls back to the log start.
    assert "no longer on the broker" in response.content.decode()


def test_an_unreachable_cluster_is_a_clear_message(client, make_user, big_record):
    from catalog.models import Cluster

    Cluster.objects.filter(trace_events__correlation_id="corr-live").update(bootstrap_servers="127.0.0.1:1")
    client.force_login(make_user("vera", "viewer"))
    response = client.get("/traces/corr-live/payload/", {"topic": big_record, "partition": 0, "offset": 0})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
