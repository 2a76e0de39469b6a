"""/metrics for consumer lag: a prometheus_client collector that reads the latest GroupLagState and TopicThroughput
rows at scrape time (no gauges kept in memory, so every web process answers the same). A few queries per scrape,
values() only, whatever the number of partitions.

Series (labels):
- eventscope_consumer_group_lag_messages, eventscope_consumer_group_time_lag_seconds (cluster, group, topic,
  partition), per partition; eventscope_consumer_group_partition_status (… , status) one-hot.
- eventscope_consumer_group_total_lag_messages, eventscope_consumer_group_max_time_lag_seconds,
  eventscope_consumer_group_time_to_clear_seconds, eventscope_consumer_group_consume_rate,
  eventscope_consumer_group_produce_rate, eventscope_consumer_group_stale (cluster, group);
  eventscope_consumer_group_status (cluster, group, status) one-hot: 1 for the group's status, 0 for the others.
- eventscope_topic_produce_rate (cluster, topic); eventscope_topic_partition_produce_rate and
  eventscope_topic_partition_log_end_offset (cluster, topic, partition).
- eventscope_lag_poll_last_success_timestamp_seconds, eventscope_lag_poll_last_duration_seconds,
  eventscope_lag_poll_last_run_failed (cluster).
- eventscope_alerts_firing (rule).
Deleted groups and topics are left out. A database error yields eventscope_lag_metrics_up 0 instead of a 500.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Max, Q
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LagCollector", "register_lag_collector"]

logger = logging.getLogger(__name__)

STATUSES = ("OK", "WARN", "STALL", "STOP", "REWIND", "UNKNOWN")
_registered: list[LagCollector] = []


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class LagCollector(Collector):
    def _families(self) -> dict[str, GaugeMetricFamily]:
        group = ["cluster", "group"]
        partition = ["cluster", "group", "topic", "partition"]
        topic = ["cluster", "topic"]
        families = [
            (
                "eventscope_consumer_group_lag_messages",
                "Messages behind per partition (log end - committed).",
                partition,
            ),
            (
                "eventscope_consumer_group_time_lag_seconds",
                "Age of the oldest unconsumed record per partition.",
                partition,
            ),
            (
                "eventscope_consumer_group_partition_status",
                "1 for the partition's lag status, 0 for the others.",
                [*partition, "status"],
            ),
            ("eventscope_consumer_group_total_lag_messages", "Messages behind, summed over the group.", group),
            ("eventscope_consumer_group_max_time_lag_seconds", "The group's largest time lag.", group),
            (
                "eventscope_consumer_group_time_to_clear_seconds",
                "Estimated time to catch up (0 when caught up).",
                group,
            ),
            ("eventscope_consumer_group_consume_rate", "Records consumed per second by the group.", group),
            (
                "eventscope_consumer_group_produce_rate",
                "Records produced per second into the group's partitions.",
                group,
            ),
            ("eventscope_consumer_group_stale", "1 when the group's last poll failed (the figures are older).", group),
            ("eventscope_consumer_group_status", "1 for the group's lag status, 0 for the others.", [*group, "status"]),
            ("eventscope_topic_produce_rate", "Records produced per second into the topic.", topic),
            (
                "eventscope_topic_partition_produce_rate",
                "Records produced per second per partition.",
                [*topic, "partition"],
            ),
            ("eventscope_topic_partition_log_end_offset", "Log-end offset per partition.", [*topic, "partition"]),
            (
                "eventscope_lag_poll_last_success_timestamp_seconds",
                "Unix time of the cluster's last successful lag poll.",
                ["cluster"],
            ),
            ("eventscope_lag_poll_last_duration_seconds", "Duration of the cluster's last lag poll.", ["cluster"]),
            ("eventscope_lag_poll_last_run_failed", "1 when the cluster's last lag poll failed.", ["cluster"]),
            ("eventscope_alerts_firing", "Firing alerts per rule.", ["rule"]),
            ("eventscope_lag_metrics_up", "1 when the lag metrics could be read from the database.", []),
        ]
        return {name: GaugeMetricFamily(name, doc, labels=labels) for name, doc, labels in families}

    def describe(self) -> Iterator[Metric]:
        # Names only: registering the collector must not touch the database.
        yield from self._families().values()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        try:
            self._fill(families)
        except DatabaseError:
            logger.exception("lag metrics: the database could not be read")
            families = {"eventscope_lag_metrics_up": self._families()["eventscope_lag_metrics_up"]}
            families["eventscope_lag_metrics_up"].add_metric([], 0)
            yield from families.values()
            return
        families["eventscope_lag_metrics_up"].add_metric([], 1)
        yield from families.values()

    def _fill(self, f: dict[str, GaugeMetricFamily]) -> None:
        from .models import Alert, GroupLagState, LagPollRun, TopicThroughput

        states = GroupLagState.objects.filter(group__deleted_at__isnull=True).values_list(
            "group__cluster__name",
            "group__group_id",
            "status",
            "total_lag",
            "max_time_lag_s",
            "time_to_clear_s",
            "consume_rate",
            "produce_rate",
            "stale",
            "partitions",
        )
        for cluster, group, status, total, max_time_lag, clear, consume, produce, stale, partitions in states.iterator(
            chunk_size=500
        ):
            labels = [cluster, group]
            f["eventscope_consumer_group_total_lag_messages"].add_metric(labels, float(total or 0))
            for name, value in (
                ("eventscope_consumer_group_max_time_lag_seconds", max_time_lag),
                ("eventscope_consumer_group_time_to_clear_seconds", clear),
                ("eventscope_consumer_group_consume_rate", consume),
                ("eventscope_consumer_group_produce_rate", produce),
            ):
                number = _number(value)
                if number is not None:
                    f[name].add_metric(labels, number)
            f["eventscope_consumer_group_stale"].add_metric(labels, 1.0 if stale else 0.0)
            for candidate in STATUSES:
                f["eventscope_consumer_group_status"].add_metric(
                    [*labels, candidate], 1.0 if status == candidate else 0.0
                )
            for row in partitions if isinstance(partitions, list) else []:
                if not isinstance(row, dict) or "topic" not in row or "partition" not in row:
                    continue
                plabels = [cluster, group, str(row["topic"]), str(row["partition"])]
                lag = _number(row.get("lag"))
                if lag is not None:
                    f["eventscope_consumer_group_lag_messages"].add_metric(plabels, lag)
                time_lag = _number(row.get("time_lag_s"))
                if time_lag is not None:
                    f["eventscope_consumer_group_time_lag_seconds"].add_metric(plabels, time_lag)
                partition_status = row.get("status") or "UNKNOWN"
                for candidate in STATUSES:
                    f["eventscope_consumer_group_partition_status"].add_metric(
                        [*plabels, candidate], 1.0 if partition_status == candidate else 0.0
                    )

        throughputs = TopicThroughput.objects.filter(topic__deleted_at__isnull=True).values_list(
            "topic__cluster__name", "topic__name", "produce_rate", "partitions"
        )
        for cluster, topic, rate, partitions in throughputs.iterator(chunk_size=500):
            number = _number(rate)
            if number is not None:
                f["eventscope_topic_produce_rate"].add_metric([cluster, topic], number)
            for row in partitions if isinstance(partitions, list) else []:
                if not isinstance(row, dict) or "partition" not in row:
                    continue
                labels = [cluster, topic, str(row["partition"])]
                partition_rate = _number(row.get("rate"))
                if partition_rate is not None:
                    f["eventscope_topic_partition_produce_rate"].add_metric(labels, partition_rate)
                log_end = _number(row.get("log_end"))
                if log_end is not None:
                    f["eventscope_topic_partition_log_end_offset"].add_metric(labels, log_end)

        last_ok = (
            LagPollRun.objects.filter(status=LagPollRun.Status.OK)
            .values("cluster__name")
            .annotate(last=Max("finished_at"))
        )
        for row in last_ok:
            if row["last"] is not None:
                f["eventscope_lag_poll_last_success_timestamp_seconds"].add_metric(
                    [row["cluster__name"]], row["last"].timestamp()
                )
        # The last finished run per cluster (skipped cycles aside): one query for the ids, one for the rows.
        last_ids = (
            LagPollRun.objects.exclude(status__in=[LagPollRun.Status.SKIPPED, LagPollRun.Status.RUNNING])
            .values("cluster")
            .annotate(last_id=Max("id"))
            .values_list("last_id", flat=True)
        )
        for cluster, status, duration_ms in LagPollRun.objects.filter(id__in=list(last_ids)).values_list(
            "cluster__name", "status", "duration_ms"
        ):
            if duration_ms is not None:
                f["eventscope_lag_poll_last_duration_seconds"].add_metric([cluster], duration_ms / 1000)
            f["eventscope_lag_poll_last_run_failed"].add_metric(
                [cluster], 1.0 if status == LagPollRun.Status.FAILED else 0.0
            )

        firing = (
            Alert.objects.filter(state=Alert.State.FIRING)
            .values("rule__name")
            .annotate(count=Count("id", filter=Q(state=Alert.State.FIRING)))
        )
        for row in firing:
            f["eventscope_alerts_firing"].add_metric([row["rule__name"]], float(row["count"]))


def register_lag_collector(registry=REGISTRY) -> LagCollector:
    """Register the collector once per process (idempotent: AppConfig.ready can run more than once in tests)."""
    if _registered and registry is REGISTRY:
        return _registered[0]
    collector = LagCollector()
    registry.register(collector)
    if registry is REGISTRY:
        _registered.append(collector)
    return collector
