"""How many events per second the demo shop sustains on the real broker, against a raw produce loop.

The shop runs for DURATION_S at ORDER_RATE orders per second with no simulated processing time
(and no slow consumer), on topics and groups of its own prefix. The figure is every record the run
produced, on all topics (orders, the services' events, dead letters), divided by the run's wall time,
start-up and clean stop included. The steady-state rate (progress intervals after the first
WARMUP_S seconds) and each service's rates are reported beside it, together with the backlog each
group had left at the stop, which says whether the services kept up with the source.

The baseline, measured right after in the same process, is a bare confluent_kafka produce loop: one
producer with the shop's producer settings, writing records of the shop's average key and value
size as fast as it can for BASELINE_S seconds, flush included. The ratio says what fraction of one
raw Python producer's throughput the whole shop (six services, consuming, processing and
committing as well as producing) achieves on the same machine. The run's topics are deleted after.

    python -m benchmarks.bench_simulator     # prints the result as JSON
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from django.conf import settings  # lazy: configured by the runner, or by _setup_django below

from simulator.shop import Shop, ShopConfig, ShopProgress
from simulator.topology import CONSUMER_SERVICES, SERVICES, TOPICS

DURATION_S = 20.0
ORDER_RATE = 2000.0  # about 9,000 events/s offered: each order makes up to five events
WARMUP_S = 3.0
BASELINE_S = 5.0
PROGRESS_INTERVAL_S = 1.0


def run() -> dict[str, Any]:
    """Run the shop, then the raw produce loop; return the figures (the benchmark runner's entry point)."""
    bootstrap = settings.KAFKA_BOOTSTRAP_SERVERS
    prefix = f"bench-simulator-{uuid.uuid4().hex[:8]}."
    config = ShopConfig(
        bootstrap_servers=bootstrap,
        rate=ORDER_RATE,
        duration_s=DURATION_S,
        processing_ms=0,
        failure_rate=0.01,
        slow_ms=0,
        seed=1,
        topic_prefix=prefix,
        progress_interval_s=PROGRESS_INTERVAL_S,
    )
    samples: list[ShopProgress] = []
    admin = AdminClient({"bootstrap.servers": bootstrap})
    baseline_topic = prefix + "baseline"
    try:
        report = Shop(config, on_progress=samples.append).run()
        backlog = {service: _backlog(bootstrap, config, service) for service in CONSUMER_SERVICES}
        events = report.events_produced
        value_bytes = round(sum(totals.produced_bytes for totals in report.services.values()) / max(events, 1))
        key_bytes = len("ord-") + 16  # order ids are "ord-" and 16 hex digits
        baseline = _raw_produce_rate(bootstrap, baseline_topic, key_bytes=key_bytes, value_bytes=value_bytes)
    finally:
        _delete_run(admin, [prefix + suffix for suffix in TOPICS] + [baseline_topic], config)

    steady = [sample for sample in samples if sample.elapsed_s > WARMUP_S]
    steady_rate = sum(sample.events_per_s for sample in steady) / len(steady) if steady else None
    overall = events / report.elapsed_s
    return {
        "figure": {
            "label": f"shop, {DURATION_S:.0f}s at {ORDER_RATE:.0f} orders/s",
            "value": round(overall),
            "unit": "events/s",
        },
        "baseline": {"label": "raw produce loop, same record size", "value": round(baseline), "unit": "events/s"},
        "ratio": round(overall / baseline, 3),
        "ratio_note": "shop events/s / raw producer events/s",
        "events_per_s": round(overall),
        "steady_events_per_s": round(steady_rate) if steady_rate is not None else None,
        "baseline_events_per_s": round(baseline),
        "events_produced": events,
        "orders_placed": report.orders_placed,
        "dead_lettered": report.dead_lettered,
        "elapsed_s": round(report.elapsed_s, 2),
        "average_value_bytes": value_bytes,
        "per_service": {
            name: {
                "consumed_per_s": round(totals.consumed / report.elapsed_s),
                "produced_per_s": round(totals.produced / report.elapsed_s),
                "backlog_at_stop": backlog.get(name, 0),
            }
            for name, totals in report.services.items()
        },
        "order_rate_offered": ORDER_RATE,
        "processing_ms": 0,
        "partitions": config.partitions,
    }


def _raw_produce_rate(bootstrap: str, topic: str, *, key_bytes: int, value_bytes: int) -> float:
    """Records per second of one producer writing as fast as it can for BASELINE_S seconds."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        }
    )
    value = b"x" * value_bytes
    keys = [f"{n:0{key_bytes}d}".encode() for n in range(1000)]
    sent = 0
    started = time.monotonic()
    deadline = started + BASELINE_S
    while time.monotonic() < deadline:
        # Check the clock every thousand records: a clock read per record would be measured too.
        for key in keys:
            while True:
                try:
                    producer.produce(topic, value=value, key=key)
                    break
                except BufferError:
                    # The local queue is full: the broker is the limit now; serve deliveries and retry.
                    producer.poll(0.01)
            sent += 1
        producer.poll(0)
    undelivered = producer.flush(60)
    elapsed = time.monotonic() - started
    if undelivered:
        raise RuntimeError(f"baseline: {undelivered} records not delivered")
    return sent / elapsed


def _backlog(bootstrap: str, config: ShopConfig, service: str) -> int:
    """Records on a service's input topics that its group had not committed at the stop."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": config.group_id(service)})
    try:
        topics = [config.topic(suffix) for suffix in SERVICES[service].inputs]
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        backlog = 0
        for tp in consumer.committed(partitions, timeout=10):
            _, end = consumer.get_watermark_offsets(tp, timeout=10)
            backlog += end - max(tp.offset, 0)
        return backlog
    finally:
        consumer.close()


def _delete_run(admin: AdminClient, topics: list[str], config: ShopConfig) -> None:
    """Delete the run's topics and groups: a run writes a few hundred thousand records, which should
    not stay on the developer's broker."""
    existing = admin.list_topics(timeout=10).topics
    doomed = [topic for topic in topics if topic in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result()
    groups = [config.group_id(service) for service in CONSUMER_SERVICES]
    for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            # A run that failed early may not have created every group.
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


if __name__ == "__main__":
    _setup_django()
    print(json.dumps(run(), indent=2))
