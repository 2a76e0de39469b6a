"""/metrics: consumer lag, time lag, status, throughput, poller health and firing alerts, scraped anonymously and
parsed with prometheus_client's own text parser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.alert_rules import alert_rule_create
from monitoring.alerts import evaluate_alerts
from tests.factories import make_cluster, make_group, make_topic
from tests.monitoring.lag_rows import make_lag_state, make_poll_run, make_throughput, partition_row

pytestmark = pytest.mark.django_db


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = family.samples
    return families


def samples(families, name: str, **labels) -> list:
    return [s for s in families.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]


def value(families, name: str, **labels) -> float:
    found = samples(families, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return found[0].value


def test_metrics_expose_lag_time_lag_status_and_throughput(client):
    cluster = make_cluster("prod-eu", discovery_enabled=False)
    topic = make_topic(cluster, "shop.orders.placed", partitions=2)
    group = make_group(cluster, "orders-svc", topics=[topic])
    make_lag_state(
        group,
        status="WARN",
        partitions=[
            partition_row("shop.orders.placed", 0, committed=100, log_end=150, time_lag_s=12.5, status="WARN"),
            partition_row("shop.orders.placed", 1, committed=80, log_end=80),
        ],
        max_time_lag_s=12.5,
        time_to_clear_s=30.0,
        consume_rate=5.0,
        produce_rate=3.0,
    )
    gone = make_group(cluster, "retired", deleted_at=timezone.now())
    make_lag_state(gone, status="STOP", total_lag=99)
    make_throughput(
        topic,
        rate=7.5,
        partitions=[{"partition": 0, "log_end": 150, "rate": 5.0}, {"partition": 1, "log_end": 80, "rate": 2.5}],
    )
    run = make_poll_run(cluster, ago=timedelta(seconds=30), duration_ms=250)

    families = scrape(client)  # anonymous: Prometheus does not log in
    p0 = {"cluster": "prod-eu", "group": "orders-svc", "topic": "shop.orders.placed", "partition": "0"}
    p1 = {**p0, "partition": "1"}
    assert value(families, "eventscope_consumer_group_lag_messages", **p0) == 50
    assert value(families, "eventscope_consumer_group_lag_messages", **p1) == 0
    assert value(families, "eventscope_consumer_group_time_lag_seconds", **p0) == 12.5
    assert value(families, "eventscope_consumer_group_partition_status", **p0, status="WARN") == 1
    assert value(families, "eventscope_consumer_group_partition_status", **p1, status="WARN") == 0
    g = {"cluster": "prod-eu", "group": "orders-svc"}
    assert value(families, "eventscope_consumer_group_total_lag_messages", **g) == 50
    assert value(families, "eventscope_consumer_group_max_time_lag_seconds", **g) == 12.5
    assert value(families, "eventscope_consumer_group_time_to_clear_seconds", **g) == 30
    assert value(families, "eventscope_consumer_group_consume_rate", **g) == 5
    assert value(families, "eventscope_consumer_group_produce_rate", **g) == 3
    assert value(families, "eventscope_consumer_group_stale", **g) == 0
    # Status one-hot: exactly one 1 per group, over every status.
    status = samples(families, "eventscope_consumer_group_status", **g)
    assert {s.labels["status"]: s.value for s in status} == {
        "OK": 0,
        "WARN": 1,
        "STALL": 0,
        "STOP": 0,
        "REWIND": 0,
        "UNKNOWN": 0,
    }
    # Deleted groups are left out.
    assert samples(families, "eventscope_consumer_group_total_lag_messages", group="retired") == []

    t = {"cluster": "prod-eu", "topic": "shop.orders.placed"}
    assert value(families, "eventscope_topic_produce_rate", **t) == 7.5
    assert value(families, "eventscope_topic_partition_produce_rate", **t, partition="1") == 2.5
    assert value(families, "eventscope_topic_partition_log_end_offset", **t, partition="0") == 150
    assert value(families, "eventscope_lag_poll_last_success_timestamp_seconds", cluster="prod-eu") == pytest.approx(
        run.finished_at.timestamp()
    )
    assert value(families, "eventscope_lag_poll_last_duration_seconds", cluster="prod-eu") == 0.25
    assert value(families, "eventscope_lag_poll_last_run_failed", cluster="prod-eu") == 0
    assert value(families, "eventscope_lag_metrics_up") == 1


def test_metrics_follow_the_latest_state_poll_failures_and_alerts(client):
    cluster = make_cluster("prod-us", discovery_enabled=False)
    group = make_group(cluster, "billing")
    make_lag_state(group, status="OK", total_lag=0)
    make_poll_run(cluster, ago=timedelta(minutes=1))
    assert value(scrape(client), "eventscope_consumer_group_status", group="billing", status="OK") == 1

    make_lag_state(group, status="STOP", total_lag=5000, stale=True)
    make_poll_run(cluster, status="failed", error="broker down")
    alert_rule_create(name="billing behind", kind="lag_messages", threshold=10)
    make_lag_state(group, status="STOP", total_lag=5000)
    evaluate_alerts()
    families = scrape(client)
    assert value(families, "eventscope_consumer_group_status", group="billing", status="STOP") == 1
    assert value(families, "eventscope_consumer_group_status", group="billing", status="OK") == 0
    assert value(families, "eventscope_lag_poll_last_run_failed", cluster="prod-us") == 1
    assert value(families, "eventscope_alerts_firing", rule="billing behind") == 1


def test_metrics_scale_to_thousands_of_partitions_in_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    cluster = make_cluster("big", discovery_enabled=False)
    for index in range(20):
        group = make_group(cluster, f"group-{index}")
        make_lag_state(
            group,
            status="OK",
            partitions=[partition_row(f"topic-{index % 4}", p, committed=p, log_end=p + 1) for p in range(100)],
        )
    with django_assert_max_num_queries(12):
        families = scrape(client)
    assert len(families["eventscope_consumer_group_lag_messages"]) == 2000
