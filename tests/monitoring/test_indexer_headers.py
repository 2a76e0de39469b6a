"""The record headers the trace index keeps (the dead letter's error headers) are stored as a JSON object on both
databases: PostgreSQL's binary COPY once stored them as a JSON *string*, and the trace page then showed a dead
letter's reason without its error headers."""

from __future__ import annotations

import pytest

from catalog.services.clusters import cluster_create
from eventscope.kafka import EventProducer, KafkaAdmin
from monitoring.indexer import TraceIndexer
from monitoring.models import TraceEvent
from monitoring.selectors import trace_for

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def test_a_dead_letters_error_headers_are_indexed_as_an_object(kafka_bootstrap, unique_name):
    cluster = cluster_create(name=unique_name[:90], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    topic = f"{unique_name}.deadletter"
    admin = KafkaAdmin(cluster.connection())
    admin.create_topic(topic)
    try:
        with EventProducer(cluster.connection()) as producer:
            producer.produce(
                topic,
                b'{"event_type": "StockReserved"}',
                headers={"correlation_id": "c-1", "error.service": "payments", "error.message": "HTTP 503"},
            )
        with TraceIndexer(cluster, include=[topic]) as indexer:
            assert indexer.run_until_caught_up(max_s=30).records_indexed == 1

        row = TraceEvent.objects.get(cluster=cluster)
        assert isinstance(row.headers, dict), f"headers stored as {type(row.headers).__name__}: {row.headers!r}"
        assert row.headers["error.service"] == "payments"
        assert row.headers["error.message"] == "HTTP 503"
        assert row.is_dead_letter and row.error_reason == "HTTP 503"
        assert trace_for("c-1") is not None
    finally:
        admin.delete_topics([topic])
