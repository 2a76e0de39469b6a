"""dev/kafka.sh: Kafka's own command-line tools run on the project's jars against the real broker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eventscope.kafka import ClusterConnection, EventConsumer, EventProducer, KafkaAdmin

pytestmark = pytest.mark.kafka

KAFKA_SH = Path(__file__).resolve().parents[2] / "dev" / "kafka.sh"


def kafka_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(KAFKA_SH), "tool", *args], capture_output=True, text=True, timeout=120, check=False)


def test_consumer_groups_tool_describes_a_group_with_its_lag(kafka_bootstrap, unique_name):
    connection = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    KafkaAdmin(connection).create_topic(unique_name, partitions=1)
    with EventProducer(connection) as producer:
        for i in range(5):
            producer.produce(unique_name, str(i))
    group = f"{unique_name}-g"
    with EventConsumer(connection, group_id=group) as consumer:
        consumer.subscribe([unique_name])
        records = []
        while len(records) < 5:
            records += consumer.poll_batch(timeout_s=1)
        consumer.commit(records[:3])

    result = kafka_tool("consumer-groups", "--bootstrap-server", kafka_bootstrap, "--describe", "--group", group)
    assert result.returncode == 0, result.stderr
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith(group))
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    assert row[1:6] == [unique_name, "0", "3", "5", "2"]


def test_unknown_tool_is_a_usage_error():
    result = kafka_tool("no-such-tool")
    assert result.returncode == 2
    assert "unknown tool 'no-such-tool'" in result.stderr
