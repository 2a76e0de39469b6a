"""End to end on the real broker: the lag poller (monitoring.lag) measures a group of this test's own, then the
group page, the groups list, the topic panel, /metrics and an alert rule read what it wrote."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from eventscope.kafka import ClusterConnection, KafkaAdmin
from monitoring.alert_rules import alert_rule_create
from monitoring.alerts import evaluate_alerts
from monitoring.lag import lag_poll
from monitoring.models import Alert, LagPollRun
from tests.factories import make_cluster, make_group, make_topic

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

PARTITIONS = 2


@pytest.fixture
def measured(kafka_bootstrap, unique_name):
    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=kafka_bootstrap, timeout_s=10))
    topic_name, group_id = f"{unique_name}-t", f"{unique_name}-g"
    admin.create_topic(topic_name, partitions=PARTITIONS)
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
        for i in range(40):
            producer.produce(topic_name, value=f"record-{i}".encode(), partition=i % PARTITIONS)
        assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group_id, "enable.auto.commit": False})
        try:  # 20 records per partition: the group has read 15 of one and 2 of the other
            consumer.commit(
                offsets=[KafkaTopicPartition(topic_name, 0, 15), KafkaTopicPartition(topic_name, 1, 2)],
                asynchronous=False,
            )
        finally:
            consumer.close()
        cluster = make_cluster(unique_name[:90], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
        topic = make_topic(cluster, topic_name, partitions=PARTITIONS)
        group = make_group(cluster, group_id, topics=[topic], state="EMPTY", member_count=0, members=[])
        for _ in range(2):
            run = lag_poll(cluster_id=cluster.pk, trigger="test")
            assert run.status == LagPollRun.Status.OK, run.error
        yield {"cluster": cluster, "topic": topic, "group": group}
    finally:
        try:
            admin.delete_consumer_groups([group_id])
        except Exception as exc:  # the group may never have been created on the broker
            print(f"cleanup of group {group_id}: {exc}")
        admin.delete_topics([topic_name])


def test_polled_lag_shows_on_the_pages_metrics_and_alerts(client, make_user, measured):
    client.force_login(make_user("vera", "viewer"))
    cluster, topic, group = measured["cluster"], measured["topic"], measured["group"]

    html = client.get(reverse("catalog:consumer-group-detail", args=[cluster.name, group.group_id])).content.decode()
    assert 'id="group-total-lag">23<' in html  # (20 - 15) + (20 - 2)
    assert html.count('<tr data-partition="') == PARTITIONS
    assert f'data-partition="{topic.name}-1"' in html
    assert html.count('class="plotly-graph-div"') == 3  # two cycles of history: the charts are drawn
    assert 'id="group-lag-stale"' not in html

    html = client.get(reverse("catalog:consumer-group-list")).content.decode()
    assert '<span class="lag-messages">23</span>' in html
    html = client.get(reverse("catalog:topic-detail", args=[cluster.name, topic.name])).content.decode()
    assert 'id="topic-total-lag">23<' in html

    metrics = {
        (sample.name, sample.labels.get("partition")): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").content.decode())
        for sample in family.samples
        if sample.labels.get("group") == group.group_id and sample.name.endswith("lag_messages")
    }
    assert metrics[("eventscope_consumer_group_lag_messages", "0")] == 5
    assert metrics[("eventscope_consumer_group_lag_messages", "1")] == 18
    assert metrics[("eventscope_consumer_group_total_lag_messages", None)] == 23

    alert_rule_create(name="behind", kind="lag_messages", threshold=20, cluster=cluster)
    assert evaluate_alerts(cluster=cluster).fired == 1
    assert Alert.objects.get().subject == f"{cluster.name} / {group.group_id}"
