"""Builders for catalog rows that several test modules need.

Discovered rows (topics, partitions, consumer groups) are built the way discovery writes them:
discovery is their only writer and needs a broker round trip per run, so page, API and monitoring tests
build the same rows directly (tests/catalog/test_discovery.py covers the writer itself). The documented
catalog (domains, teams, services, event types) goes through catalog.services.documentation instead.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from catalog.models import Cluster, ConsumerGroup, Partition, Topic
from catalog.services import clusters as cluster_services

DEFAULT_CONFIGS = {"retention.ms": "604800000", "cleanup.policy": "delete", "segment.bytes": "1073741824"}
DEFAULT_MEMBERS = [{"member_id": "m-1", "client_id": "c-1", "host": "/10.0.0.7", "assignment": []}]


def make_cluster(name: str = "local", **fields) -> Cluster:
    """A cluster row; by default at the test broker's address, so tests that poll or discover reach it."""
    return cluster_services.cluster_create(
        name=name, bootstrap_servers=fields.pop("bootstrap_servers", settings.KAFKA_BOOTSTRAP_SERVERS), **fields
    )


def make_topic(cluster: Cluster, name: str, *, partitions: int = 3, **fields) -> Topic:
    """A topic row with its partitions, as discovery writes them."""
    now = timezone.now()
    topic = Topic.objects.create(
        cluster=cluster,
        name=name,
        partition_count=partitions,
        replication_factor=fields.pop("replication_factor", 1),
        retention_ms=fields.pop("retention_ms", 604_800_000),
        cleanup_policy=fields.pop("cleanup_policy", "delete"),
        configs=fields.pop("configs", dict(DEFAULT_CONFIGS)),
        first_seen=fields.pop("first_seen", now),
        last_seen=now,
        **fields,
    )
    Partition.objects.bulk_create(
        Partition(topic=topic, number=n, leader=1, replicas=[1], isr=[1]) for n in range(partitions)
    )
    return topic


def make_group(cluster: Cluster, group_id: str, *, topics=(), **fields) -> ConsumerGroup:
    """A consumer group row with one member, committed on `topics`, as discovery writes it."""
    now = timezone.now()
    group = ConsumerGroup.objects.create(
        cluster=cluster,
        group_id=group_id,
        state=fields.pop("state", "Stable"),
        protocol=fields.pop("protocol", "CONSUMER"),
        member_count=fields.pop("member_count", 1),
        members=fields.pop("members", [dict(member) for member in DEFAULT_MEMBERS]),
        first_seen=now,
        last_seen=now,
        **fields,
    )
    group.committed_topics.set(topics)
    return group


def make_team_editor(user, teams=None) -> None:
    """Make `user` an editor of `teams` (default: every team there is), so a test may change what they own
    (governance.ownership); tests/governance/test_ownership.py covers who may change what."""
    from catalog.models import Team, TeamMembership

    TeamMembership.objects.bulk_create(
        TeamMembership(team=team, user=user, role=TeamMembership.Role.EDITOR)
        for team in (teams if teams is not None else Team.objects.all())
    )
