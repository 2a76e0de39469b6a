"""The impact analysis reads only the lineage graph downstream of the changed topic(s): its report must equal the
one the whole graph gives (`build_graph(include_stale=False)`, the path a `graph_builder` still takes).

Seeded random catalogs on the real database: two clusters with the same topic names, stale and current
evidence of every kind, deleted and internal topics, groups with and without a service (a group id with a
slash), services missing from the catalog, a malformed node id, cycles and odd edges (topic -> topic,
group -> topic). For many topics and subjects, the consumers, depths, verdicts, urls and notes must be the same.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Cluster, ConsumerGroup, DeclaredRelation, Service, Team, Topic
from lineage import selectors as lineage_selectors
from lineage.impact import analyze_impact, reachable_consumers
from lineage.models import EdgeEvidence
from lineage.selectors import build_graph, downstream_graph, node_urls, topic_node_id
from schemas.services import subject_register_version

pytestmark = pytest.mark.django_db

SEEDS = range(24)
CLUSTERS = ("ka", "kb")
TOPIC_NAMES = [f"t{n}" for n in range(9)]
GROUP_IDS = [f"g{n}" for n in range(7)] + ["team/g7"]
SERVICE_NAMES = [f"svc.{n}" for n in range(9)] + ["svc:odd"]
GHOSTS = ["ghost.0", "ghost.1"]  # services seen in evidence that the catalog does not know
KINDS = ("declared", "discovered", "observed")
FIELDS = [f"f{n}" for n in range(6)]


def _avro(*, drop: str | None = None) -> str:
    fields = [{"name": name, "type": "string"} for name in FIELDS if name != drop]
    return json.dumps({"type": "record", "name": "Rand", "fields": fields})


def _random_catalog(rng: random.Random) -> dict[str, list]:
    """Catalog rows and evidence rows for one seed; returns the topic rows per name."""
    now = timezone.now()
    clusters = [Cluster.objects.create(name=name, bootstrap_servers="127.0.0.1:9092") for name in CLUSTERS]
    teams = [
        Team.objects.create(name=f"Team {n}", slug=f"team-{n}", contact_channel=f"#team-{n}" if n else "")
        for n in range(3)
    ]
    services = [
        Service.objects.create(name=name, slug=f"s-{n}", owner_team=rng.choice([*teams, None]))
        for n, name in enumerate(SERVICE_NAMES)
    ]
    topics: dict[str, list[Topic]] = {}
    for cluster in clusters:
        for name in TOPIC_NAMES:
            if rng.random() < 0.85:
                row = Topic.objects.create(
                    cluster=cluster,
                    name=name,
                    internal=rng.random() < 0.1,
                    deleted_at=now if rng.random() < 0.15 else None,
                    first_seen=now,
                    last_seen=now,
                )
                topics.setdefault(name, []).append(row)
        for group_id in GROUP_IDS:
            if rng.random() < 0.85:
                ConsumerGroup.objects.create(
                    cluster=cluster,
                    group_id=group_id,
                    service=rng.choice([*services, None, None]),
                    deleted_at=now if rng.random() < 0.15 else None,
                    first_seen=now,
                    last_seen=now,
                )

    topic_ids = [f"topic:{c}/{t}" for c in CLUSTERS for t in TOPIC_NAMES]
    group_ids = [f"group:{c}/{g}" for c in CLUSTERS for g in GROUP_IDS]
    service_ids = [f"service:{name}" for name in SERVICE_NAMES + GHOSTS]
    patterns = [
        (service_ids, topic_ids, 6),  # produces
        (topic_ids, group_ids, 6),  # a group reads
        (group_ids, service_ids, 4),  # the group's service
        (topic_ids, service_ids, 3),  # declared, no group
        (topic_ids, topic_ids, 1),  # odd edges the walk does not follow
        (group_ids, topic_ids, 1),
        (service_ids, service_ids, 1),
        (topic_ids, ["topic:malformed"], 1),  # parses as a service named "topic:malformed"
        (["topic:malformed"], topic_ids, 1),
    ]
    weights = [weight for _, _, weight in patterns]
    rows: dict[tuple[str, str, str], EdgeEvidence] = {}
    for _ in range(rng.randint(60, 160)):
        sources, targets, _ = rng.choices(patterns, weights)[0]
        source, target = rng.choice(sources), rng.choice(targets)
        for kind in rng.sample(KINDS, rng.randint(1, 3)):
            seen = now - timedelta(hours=rng.randint(1, 100))
            rows[(source, target, kind)] = EdgeEvidence(
                cluster=rng.choice(clusters),
                source=source,
                target=target,
                kind=kind,
                count=rng.randint(1, 5),
                first_seen=seen,
                last_seen=seen,
                stale_since=now if rng.random() < 0.3 else None,
            )
    EdgeEvidence.objects.bulk_create(rows.values())

    all_rows = [row for rows_ in topics.values() for row in rows_]
    for row in rng.sample(all_rows, k=min(8, len(all_rows))):
        for service in rng.sample(services, k=3):
            DeclaredRelation.objects.get_or_create(
                service=service,
                direction=DeclaredRelation.Direction.CONSUMES,
                topic=row,
                defaults={
                    "reader_schema_version": rng.choice([None, 1, 7]),
                    "reads_fields": rng.sample(FIELDS, k=rng.randint(0, 2)),
                },
            )
    return topics


def _whole_graph_report(**kwargs):
    return analyze_impact(**kwargs, graph_builder=lambda: build_graph(include_stale=False))


def _assert_same_report(**kwargs):
    new, old = analyze_impact(**kwargs), _whole_graph_report(**kwargs)
    assert new.consumers == old.consumers  # every field, url and order included
    assert new.notes == old.notes
    assert new.as_dict() == old.as_dict()
    assert new.to_markdown() == old.to_markdown()
    return new


@pytest.mark.parametrize("seed", SEEDS)
def test_the_downstream_walk_finds_what_the_whole_graph_finds(seed, monkeypatch):
    if seed % 3 == 0:
        monkeypatch.setattr(lineage_selectors, "IN_BATCH", 2)  # several batches of start topics and urls
    rng = random.Random(seed)
    topics = _random_catalog(rng)
    whole = build_graph(include_stale=False)

    # Every start set: one topic row, and all rows of a name (the same topic on both clusters).
    start_sets = [[row] for rows in topics.values() for row in rows] + [rows for rows in topics.values()]
    reached = 0
    for rows in start_sets:
        ids = [topic_node_id(row) for row in rows]
        part = downstream_graph(rows)
        refs = reachable_consumers(part, ids)
        urls = node_urls(ref.node for ref in refs)
        for ref in refs:
            ref.url = urls[ref.node]
        assert refs == reachable_consumers(whole, ids)  # depths, groups, via, upstream, urls and order
        assert [part.has_node(node) for node in ids] == [whole.has_node(node) for node in ids]
        assert len(part) <= len(whole)
        reached += len(refs)
    assert reached, "the random catalog should have consumers"

    for name in TOPIC_NAMES:
        subject_register_version(subject=f"{name}-value", schema_text=_avro())
    for name in rng.sample(TOPIC_NAMES, k=4):
        # By subject (TopicNameStrategy: the live topics of that name on every cluster), and by topic name.
        _assert_same_report(subject=f"{name}-value", schema_text=_avro(drop=rng.choice(FIELDS)))
        if name in topics:
            _assert_same_report(subject=f"{name}-value", topic=name, schema_text=_avro(drop="f1"))


def _evidence(source: str, target: str, kind: str = "discovered", *, stale: bool = False) -> EdgeEvidence:
    now = timezone.now()
    return EdgeEvidence.objects.create(
        cluster=Cluster.objects.get(name="ka"),
        source=source,
        target=target,
        kind=kind,
        count=1,
        first_seen=now,
        last_seen=now,
        stale_since=now if stale else None,
    )


def _topic(name: str, **fields) -> Topic:
    now = timezone.now()
    return Topic.objects.create(
        cluster=Cluster.objects.get(name="ka"), name=name, first_seen=now, last_seen=now, **fields
    )


def test_the_downstream_graph_holds_only_current_edges_downstream_of_the_topic():
    Cluster.objects.create(name="ka", bootstrap_servers="127.0.0.1:9092")
    changed = _topic("orders")
    _evidence("topic:ka/orders", "service:billing", "declared")
    _evidence("topic:ka/orders", "service:billing", "observed", stale=True)  # stale, but the edge is current
    _evidence("service:billing", "topic:ka/invoices", "declared")
    _evidence("topic:ka/invoices", "service:mailer", stale=True)  # only stale evidence: gone
    _evidence("topic:ka/invoices", "group:ka/audit")
    _evidence("service:upstream", "topic:ka/orders", "declared")  # upstream of the topic
    _evidence("topic:ka/other", "service:elsewhere")  # another component

    part = downstream_graph([changed])
    assert part.successors("topic:ka/orders") == ["service:billing"]
    assert part.successors("topic:ka/invoices") == ["group:ka/audit"]
    assert {node.id for node in part.nodes} == {
        "topic:ka/orders",
        "service:billing",
        "topic:ka/invoices",
        "group:ka/audit",
    }
    assert part.edge_count == 3
    refs = reachable_consumers(part, ["topic:ka/orders"])
    assert [(ref.service, ref.group, ref.depth) for ref in refs] == [("billing", None, 1), (None, "audit", 2)]
    assert refs == reachable_consumers(build_graph(include_stale=False), ["topic:ka/orders"])


def test_a_hidden_topic_is_in_the_graph_only_when_current_evidence_touches_it():
    """The whole graph holds every live, non-internal topic, and a deleted or internal one only as an edge end:
    the "no edges yet" note depends on it."""
    Cluster.objects.create(name="ka", bootstrap_servers="127.0.0.1:9092")
    live, internal = _topic("live"), _topic("internal", internal=True)
    deleted, produced = _topic("deleted", deleted_at=timezone.now()), _topic("produced", deleted_at=timezone.now())
    _evidence("service:writer", "topic:ka/produced", "declared")
    _evidence("service:writer", "topic:ka/internal", "declared", stale=True)
    whole = build_graph(include_stale=False)
    for row, expected in ((live, True), (internal, False), (deleted, False), (produced, True)):
        node = topic_node_id(row)
        assert downstream_graph([row]).has_node(node) is expected
        assert whole.has_node(node) is expected
    for name in ("live", "internal", "deleted", "produced"):
        subject_register_version(subject=f"{name}-value", schema_text=_avro())
        report = _assert_same_report(subject=f"{name}-value", topic=name, schema_text=_avro(drop="f1"))
        no_edges = any("no edges for these topics" in note for note in report.notes)
        assert no_edges is (name in ("internal", "deleted"))
