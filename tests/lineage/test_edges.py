"""Refreshing the lineage evidence: declared relations, discovered groups, observed chains, staleness and
the graph as of a past date (lineage.services.refresh_edges and lineage.selectors.build_graph)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog.models import DeclaredRelation
from catalog.services import documentation
from lineage.models import EdgeEvidence, ObservedPosition
from lineage.selectors import (
    LineageFilterError,
    build_graph,
    build_neighbourhood,
    group_node_id,
    service_node_id,
    topic_node_id,
)
from lineage.services import refresh_edges
from monitoring.models import IndexerOffset, TraceEvent
from tests.factories import make_cluster, make_group, make_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    """orders produces placed; inventory (group inv-g) consumes placed and produces reserved; payments
    declares it consumes reserved but has no group; reserved's event type carries the declaration."""
    cluster = make_cluster("c1")
    sales = documentation.domain_create(name="Sales")
    stock = documentation.domain_create(name="Stock")
    team = documentation.team_create(name="Warehouse", domain=stock)
    orders = documentation.service_create(name="orders", domain=sales)
    inventory = documentation.service_create(name="inventory", owner_team=team)
    payments = documentation.service_create(name="payments")
    placed = make_topic(cluster, "placed", domain=sales)
    reserved = make_topic(cluster, "reserved")
    make_topic(cluster, "unused")
    group = make_group(cluster, "inv-g", topics=[placed], service=inventory)
    stock_reserved = documentation.event_type_create(name="StockReserved", topic=reserved)
    documentation.relation_create(service=orders, direction="produces", topic=placed)
    documentation.relation_create(service=inventory, direction="consumes", topic=placed)
    documentation.relation_create(service=inventory, direction="produces", event_type=stock_reserved)
    documentation.relation_create(service=payments, direction="consumes", event_type=stock_reserved)
    return {
        "cluster": cluster,
        "orders": orders,
        "inventory": inventory,
        "payments": payments,
        "placed": placed,
        "reserved": reserved,
        "group": group,
    }


def evidence(kind: str) -> dict[tuple[str, str], EdgeEvidence]:
    return {(row.source, row.target): row for row in EdgeEvidence.objects.filter(kind=kind)}


def indexed(cluster, *records: dict) -> list[TraceEvent]:
    """Write index rows as the indexer does: the rows, then each partition's position past them, in one
    transaction (the indexer's position is what a refresh reads up to)."""
    rows = [TraceEvent.objects.create(cluster=cluster, **fields) for fields in records]
    for row in rows:
        position, _ = IndexerOffset.objects.get_or_create(
            cluster=cluster, topic=row.topic, partition=row.partition, defaults={"next_offset": 0}
        )
        if row.offset + 1 > position.next_offset:
            IndexerOffset.objects.filter(pk=position.pk).update(next_offset=row.offset + 1)
    return rows


def test_declared_and_discovered_edges(shop):
    [stats] = refresh_edges(shop["cluster"])
    placed, reserved = topic_node_id(shop["placed"]), topic_node_id(shop["reserved"])
    group = group_node_id(shop["group"])
    orders, inventory, payments = (service_node_id(shop[n]) for n in ("orders", "inventory", "payments"))
    assert set(evidence("declared")) == {
        (orders, placed),
        (placed, group),  # inventory consumes placed through its known group
        (inventory, reserved),  # through the event type's topic
        (reserved, payments),  # no group of payments is known
    }
    assert set(evidence("discovered")) == {(placed, group), (group, inventory)}
    assert stats.declared == 4 and stats.discovered == 2 and stats.created == 6

    graph = build_graph()
    assert graph.downstream(orders) == {placed: 1, group: 2, inventory: 3, reserved: 4, payments: 5}
    assert graph.edge(placed, group).evidence == {"declared", "discovered"}
    assert graph.node(group).team == "Warehouse" and graph.node(group).domain == "Stock"
    assert graph.node(placed).url == "/catalog/topics/c1/placed/"
    assert graph.topics_without_producers() == ["topic:c1/unused"]

    # Running again changes nothing.
    [again] = refresh_edges(shop["cluster"])
    assert again.created == 0 and again.marked_stale == 0
    assert EdgeEvidence.objects.count() == 6


def test_vanished_evidence_is_marked_stale_and_revives(shop):
    refresh_edges(shop["cluster"])
    relation = DeclaredRelation.objects.get(service=shop["orders"])
    documentation.relation_delete(relation=relation)
    shop["group"].deleted_at = timezone.now()
    shop["group"].save()
    [stats] = refresh_edges(shop["cluster"])
    assert stats.marked_stale == 4  # orders -> placed; placed -> group (both kinds); group -> inventory
    stale = {(r.source, r.target, r.kind) for r in EdgeEvidence.objects.exclude(stale_since=None)}
    assert ("service:orders", "topic:c1/placed", "declared") in stale
    # Nothing deleted; inventory, its group gone, now consumes placed directly (declared).
    assert EdgeEvidence.objects.count() == 7
    assert ("topic:c1/placed", "service:inventory", "declared") not in stale

    graph = build_graph()
    assert graph.edge("service:orders", "topic:c1/placed").stale
    assert "service:orders" not in build_graph(include_stale=False)

    documentation.relation_create(service=shop["orders"], direction="produces", topic=shop["placed"])
    [stats] = refresh_edges(shop["cluster"])
    assert stats.revived == 1
    assert not build_graph().edge("service:orders", "topic:c1/placed").stale


def test_as_of_a_past_date(shop):
    past = timezone.now() - timedelta(days=10)
    refresh_edges(shop["cluster"], now=past)
    documentation.relation_create(service=shop["payments"], direction="produces", topic=shop["placed"])
    later = past + timedelta(days=5)
    documentation.relation_delete(relation=DeclaredRelation.objects.get(service=shop["orders"]))
    refresh_edges(shop["cluster"], now=later)

    before = build_graph(as_of=past + timedelta(days=1))
    assert not before.edge("service:orders", "topic:c1/placed").stale
    assert "service:payments" not in before.predecessors("topic:c1/placed")
    after = build_graph(as_of=later + timedelta(days=1))
    assert after.edge("service:orders", "topic:c1/placed").stale
    assert not after.edge("service:payments", "topic:c1/placed").stale
    assert build_graph(as_of=past - timedelta(days=1)).edge_count == 0


def test_observed_edges_from_the_correlation_index(shop):
    cluster = shop["cluster"]
    t0 = timezone.now() - timedelta(minutes=5)

    offsets = iter(range(1000))

    def record(correlation_id, topic, seconds, producer="", **fields):
        return indexed(
            cluster,
            dict(
                correlation_id=correlation_id,
                topic=topic,
                partition=0,
                offset=next(offsets),
                timestamp=t0 + timedelta(seconds=seconds),
                producer=producer,
                **fields,
            ),
        )

    for n in range(3):  # three chains: placed (by orders), then reserved produced by inventory
        record(f"c-{n}", "placed", 0, producer="orders")
        record(f"c-{n}", "reserved", 1, producer="Inventory")  # matched to the service case-insensitively
    # A chain where "billing" (not in the catalog) consumed reserved and produced invoices.
    record("c-9", "placed", 0)
    record("c-9", "reserved", 1)
    record("c-9", "invoices", 2, producer="billing")
    # Outside the window: no hop.
    record("c-late", "placed", 0)
    record("c-late", "reserved", 3600, producer="inventory")
    # A dead letter carrying the failed record's producer header is not evidence.
    record("c-0", "deadletter", 5, producer="inventory", is_dead_letter=True)

    [stats] = refresh_edges(cluster)
    observed = evidence("observed")
    placed, group = "topic:c1/placed", group_node_id(shop["group"])
    assert observed[("service:inventory", "topic:c1/reserved")].count == 3
    assert observed[(placed, group)].count == 3  # inventory consumes placed through inv-g
    assert observed[(group, "service:inventory")].count == 3
    assert observed[("topic:c1/reserved", "service:billing")].count == 1
    assert observed[("service:billing", "topic:c1/invoices")].count == 1
    assert ("service:inventory", "topic:c1/deadletter") not in observed
    assert len(observed) == 5
    assert stats.observed_edges_touched == 5

    # The next refresh reads only newer rows: counts add up, nothing is counted twice.
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 3
    record("c-3", "placed", 10, producer="orders")
    record("c-3", "reserved", 11, producer="inventory")
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 4
    # Each partition has been read up to the indexer's position.
    read = ObservedPosition.objects.filter(cluster=cluster).values_list("topic", "partition", "read_until")
    assert set(read) == set(
        IndexerOffset.objects.filter(cluster=cluster).values_list("topic", "partition", "next_offset")
    )
    assert len(read) == 4  # placed, reserved, invoices, deadletter

    graph = build_graph()
    assert graph.edge(placed, group).evidence == {"declared", "discovered", "observed"}
    assert graph.edge(placed, group).counts["observed"] == 4
    assert graph.node("service:billing").url is None  # known only from traffic


def test_observed_rows_count_once_whatever_order_their_ids_came_in(shop):
    """Two indexer copies take ids in blocks, so a row written later can have a lower id than one already
    read (here: partition 1's rows get high ids and are read first; partition 0's, lower ids, come later)."""
    cluster = shop["cluster"]
    t0 = timezone.now() - timedelta(minutes=5)

    def chain(correlation_id, partition, offset, first_id):
        indexed(
            cluster,
            dict(
                id=first_id,
                correlation_id=correlation_id,
                topic="placed",
                partition=partition,
                offset=offset,
                timestamp=t0,
                producer="orders",
            ),
            dict(
                id=first_id + 1,
                correlation_id=correlation_id,
                topic="reserved",
                partition=partition,
                offset=offset,
                timestamp=t0 + timedelta(seconds=1),
                producer="inventory",
            ),
        )

    chain("copy-b-1", partition=1, offset=0, first_id=5001)
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 1
    chain("copy-a-1", partition=0, offset=0, first_id=11)  # lower ids than anything read so far
    chain("copy-a-2", partition=0, offset=1, first_id=13)
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 3
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 3


def test_rows_past_the_indexers_position_wait_for_it(shop):
    """A row whose batch has not moved the indexer's position yet is not read; once it has, it is read once."""
    cluster = shop["cluster"]
    t0 = timezone.now() - timedelta(minutes=5)
    indexed(
        cluster,
        dict(correlation_id="c", topic="placed", partition=0, offset=0, timestamp=t0, producer="orders"),
        dict(
            correlation_id="c",
            topic="reserved",
            partition=0,
            offset=0,
            timestamp=t0 + timedelta(seconds=1),
            producer="inventory",
        ),
    )
    # The next batch's rows are there, but its position is not (yet) committed.
    TraceEvent.objects.create(
        cluster=cluster, correlation_id="d", topic="placed", partition=0, offset=1, timestamp=t0, producer="orders"
    )
    TraceEvent.objects.create(
        cluster=cluster,
        correlation_id="d",
        topic="reserved",
        partition=0,
        offset=1,
        timestamp=t0 + timedelta(seconds=1),
        producer="inventory",
    )
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 1
    IndexerOffset.objects.filter(cluster=cluster).update(next_offset=2)
    refresh_edges(cluster)
    refresh_edges(cluster)
    assert evidence("observed")[("service:inventory", "topic:c1/reserved")].count == 2


def test_observed_edges_go_stale_when_traffic_stops(shop, settings):
    settings.LINEAGE_OBSERVED_STALE_AFTER_S = 60
    cluster = shop["cluster"]
    old = timezone.now() - timedelta(hours=1)
    for n, (topic, producer) in enumerate((("placed", "orders"), ("reserved", "inventory"))):
        indexed(
            cluster,
            dict(
                correlation_id="c",
                topic=topic,
                partition=0,
                offset=n,
                timestamp=old + timedelta(seconds=n),
                producer=producer,
            ),
        )
    refresh_edges(cluster)
    row = evidence("observed")[("service:inventory", "topic:c1/reserved")]
    assert row.stale_since is not None
    assert build_graph().edge("service:inventory", "topic:c1/reserved").evidence == {"declared"}


def test_filters_and_the_neighbourhood(shop):
    refresh_edges(shop["cluster"])
    sales = build_graph(domain="sales")
    # Sales holds orders and placed; their direct connections come along.
    assert set(sales.node_ids) == {"service:orders", "topic:c1/placed", group_node_id(shop["group"])}
    warehouse = build_graph(team="Warehouse")
    assert "service:inventory" in warehouse and "service:orders" not in warehouse
    # reserved is there for its edge from inventory; its consumer payments (no team) is out of scope, so the
    # reports do not call it a topic without consumers.
    assert warehouse.node("topic:c1/reserved").context and not warehouse.node("service:inventory").context
    assert warehouse.topics_without_consumers() == [] and warehouse.topics_without_producers() == []
    assert len(build_graph(cluster="c1")) == len(build_graph())
    with pytest.raises(LineageFilterError):
        build_graph(cluster="nope")
    with pytest.raises(LineageFilterError):
        build_graph(domain="nope")

    around = build_neighbourhood("topic:c1/placed", up=1, down=1)
    assert set(around.node_ids) == {"topic:c1/placed", "service:orders", group_node_id(shop["group"])}
    assert around.node("service:orders").domain == "Sales"
    lonely = build_neighbourhood("topic:c1/unused")
    assert lonely.node_ids == ["topic:c1/unused"] and lonely.edge_count == 0


def test_refresh_command_and_task(shop):
    out = StringIO()
    call_command("refresh_lineage", "--cluster", "c1", stdout=out)
    assert "c1: 4 declared, 2 discovered" in out.getvalue()
    assert "discovered edges" in out.getvalue()  # progress lines
    with pytest.raises(CommandError, match="Unknown cluster 'nope'"):
        call_command("refresh_lineage", "--cluster", "nope", stdout=StringIO())

    from lineage.tasks import refresh_lineage_edges

    assert refresh_lineage_edges() == 2  # c1 and the default cluster
    assert refresh_lineage_edges(cluster_id=shop["cluster"].pk) == 1
    assert refresh_lineage_edges(cluster_id=999_999) == 0
