"""The lineage page with 1,000 nodes: server time and payload size.

A synthetic installation is made in a throwaway database (Django's test database for the configured one,
as in bench_catalog_pages): 2 clusters, 8 domains, 24 teams, 150 services, 500 topics and 350 consumer
groups, joined by about 1,900 edge evidence rows written straight into lineage's table (declared
service -> topic, discovered topic -> group and group -> service, observed on a share of them), so the
graph has 1,000 nodes. The catalog rows are bulk-created; what is measured is the page, not the refresh.

Pages, each requested REQUESTS times through Django's test Client as a logged-in viewer after a warm-up:
- every node drawn (``collapse=none``): the 1,000-node Plotly figure;
- the default view, auto-collapsed by domain above lineage.overview.AUTO_COLLAPSE_ABOVE nodes;
- a focus on one topic, 2 hops up and down;
- a catalog topic page, whose small lineage view reads only the node's neighbourhood.
Figures: wall p50/p95 and CPU p95 per page, the response size (raw and gzip, since whitenoise/gunicorn
deployments usually compress), and, for the 1,000-node page, how its time splits between building the
graph from the database, the graph algorithms (lists), the figure and the template.

The page caches the betweenness ranking ("most flows pass through") under the graph's signature, so the
repeated requests measure the steady state; the breakdown's "lists" figure is the uncached cost, paid by
the first request after the graph changes.

Baseline in the same run: the catalog's topic list page (25 rows) through the same client.

    python -m benchmarks.run lineage_page
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

SERVICES = 150
TOPICS = 500
GROUPS = 350
DOMAINS = ("sales", "stock", "money", "shipping", "identity", "analytics", "marketing", "support")
TEAMS = 24
REQUESTS = 30
WARMUP = 3


def run() -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import override_settings

    tmpdir = tempfile.mkdtemp(prefix="eventscope-bench-lineage-")
    if connection.vendor == "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = os.path.join(tmpdir, "lineage.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            return _measure(connection.vendor)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(tmpdir, ignore_errors=True)


def _populate() -> dict[str, Any]:
    import random

    from django.utils import timezone

    from catalog.models import Cluster, ConsumerGroup, Domain, Service, Team, Topic
    from lineage.models import EdgeEvidence

    rng = random.Random(7)
    now = timezone.now()
    clusters = Cluster.objects.bulk_create(
        Cluster(name=f"bench-{name}", bootstrap_servers=f"{name}.kafka.internal:9092") for name in ("eu", "us")
    )
    domains = Domain.objects.bulk_create(Domain(name=name.title(), slug=name) for name in DOMAINS)
    teams = Team.objects.bulk_create(
        Team(name=f"Team {i:02d}", slug=f"team-{i:02d}", domain=domains[i % len(domains)]) for i in range(TEAMS)
    )
    services = Service.objects.bulk_create(
        Service(name=f"svc-{i:03d}", slug=f"svc-{i:03d}", owner_team=teams[i % TEAMS], domain=domains[i % 8])
        for i in range(SERVICES)
    )
    topics = Topic.objects.bulk_create(
        Topic(
            cluster=clusters[i % 2],
            name=f"{DOMAINS[i % 8]}.entity-{i:03d}.changed",
            partition_count=6,
            replication_factor=3,
            domain=domains[i % 8],
            owner_team=teams[i % TEAMS],
            first_seen=now,
            last_seen=now,
        )
        for i in range(TOPICS)
    )
    groups = ConsumerGroup.objects.bulk_create(
        ConsumerGroup(
            cluster=clusters[i % 2],
            group_id=f"svc-{i % SERVICES:03d}.consumer-{i:03d}",
            service=services[i % SERVICES],
            first_seen=now,
            last_seen=now,
        )
        for i in range(GROUPS)
    )

    def topic_id(t: Topic) -> str:
        return f"topic:{t.cluster.name}/{t.name}"

    rows: dict[tuple[str, str, str], EdgeEvidence] = {}

    def add(cluster, source: str, target: str, kind: str, count: int = 1) -> None:
        rows[(source, target, kind)] = EdgeEvidence(
            cluster=cluster, source=source, target=target, kind=kind, count=count, first_seen=now, last_seen=now
        )

    for i, topic in enumerate(topics):  # one producer per topic, a few with two
        for service in {services[i % SERVICES], services[(i * 7) % SERVICES] if i % 5 == 0 else services[i % SERVICES]}:
            add(topic.cluster, f"service:{service.name}", topic_id(topic), "declared")
    for i, group in enumerate(groups):  # each group reads 2-3 topics of its cluster, belongs to its service
        same_cluster = [t for t in topics[i % 2 :: 2]]
        for topic in rng.sample(same_cluster, 2 + i % 2):
            add(group.cluster, topic_id(topic), f"group:{group.cluster.name}/{group.group_id}", "discovered")
            if i % 3 == 0:
                add(group.cluster, topic_id(topic), f"group:{group.cluster.name}/{group.group_id}", "observed", 40)
        add(
            group.cluster, f"group:{group.cluster.name}/{group.group_id}", f"service:{group.service.name}", "discovered"
        )
    EdgeEvidence.objects.bulk_create(rows.values(), batch_size=1000)
    return {
        "services": SERVICES,
        "topics": TOPICS,
        "groups": GROUPS,
        "nodes": SERVICES + TOPICS + GROUPS,
        "evidence_rows": len(rows),
        "focus": topic_id(topics[10]),
        "topic_page": f"/catalog/topics/{topics[10].cluster.name}/{topics[10].name}/",
    }


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _time(get: Callable[[str], Any], url: str) -> dict[str, Any]:
    for _ in range(WARMUP):
        get(url)
    wall, cpu = [], []
    body = b""
    for _ in range(REQUESTS):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = get(url)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        body = response.content
    return {
        "url": url,
        "p50_ms": round(_percentile(wall, 50), 1),
        "p95_ms": round(_percentile(wall, 95), 1),
        "cpu_p95_ms": round(_percentile(cpu, 95), 1),
        "bytes": len(body),
        "gzip_bytes": len(gzip.compress(body, 6)),
    }


def _breakdown() -> dict[str, float]:
    """Where the 1,000-node page's time goes (one run each, ms)."""
    from django.core.cache import cache

    from lineage import charts, selectors
    from lineage.overview import lineage_overview

    cache.clear()
    started = time.perf_counter()
    graph = selectors.build_graph()
    built = time.perf_counter()
    overview = lineage_overview(graph, collapse="none")
    listed = time.perf_counter()
    figure = charts.lineage_figure(overview.shown)
    drawn = time.perf_counter()
    html = charts.lineage_figure_html(figure, div_id="lineage-figure")
    serialised = time.perf_counter()
    return {
        "nodes": len(graph),
        "edges": graph.edge_count,
        "build_graph_ms": round((built - started) * 1000, 1),
        "lists_ms (cycles, no producers/consumers, central)": round((listed - built) * 1000, 1),
        "figure_ms": round((drawn - listed) * 1000, 1),
        "figure_to_html_ms": round((serialised - drawn) * 1000, 1),
        "figure_html_bytes": len(html),
    }


def _measure(vendor: str) -> dict[str, Any]:
    from django.contrib.auth.models import Group, User
    from django.core.cache import cache
    from django.test import Client

    data = _populate()
    cache.clear()
    user = User.objects.create_user(username="bench-viewer")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    get = client.get

    pages = {
        "1,000 nodes, every node drawn": _time(get, "/lineage/?collapse=none"),
        "1,000 nodes, default (auto-collapsed by domain)": _time(get, "/lineage/"),
        "focus on a topic, 2 up / 2 down": _time(get, f"/lineage/?focus={data['focus']}&up=2&down=2"),
        "catalog topic page with its small lineage view": _time(get, data["topic_page"]),
    }
    baseline = _time(get, "/catalog/topics/?per_page=25")
    full = pages["1,000 nodes, every node drawn"]
    return {
        "figure": {"label": "lineage page, 1,000 nodes drawn, p95", "value": full["p95_ms"], "unit": "ms"},
        "baseline": {
            "label": "catalog topic list (25 rows) p95, same client",
            "value": baseline["p95_ms"],
            "unit": "ms",
        },
        "ratio": round(full["p95_ms"] / baseline["p95_ms"], 1),
        "ratio_note": "1,000-node lineage page p95 / topic list p95",
        "payload": {"bytes": full["bytes"], "gzip_bytes": full["gzip_bytes"]},
        "pages": pages,
        "baseline_page": baseline,
        "breakdown": _breakdown(),
        "data": {k: v for k, v in data.items() if k not in ("focus", "topic_page")},
        "database": vendor,
        "requests_per_page": REQUESTS,
    }
