"""A discovery run that finds new or vanished topics or groups refreshes the cluster's lineage graph at once,
instead of at the next 5-minute tick: a fresh installation's graph is complete right after its first discovery.
"""

from __future__ import annotations

import pytest

from catalog.services.clusters import cluster_create
from catalog.tasks import discover_cluster
from eventscope.celery import app
from lineage import tasks as lineage_tasks
from lineage.models import LineageRefresh

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_tasks():
    """Queued tasks run in this process (the real task code, no worker or broker in between). The worker
    registers lineage's tasks by autodiscovery; here the import above does."""
    assert "lineage.refresh_edges" in app.tasks and lineage_tasks.refresh_lineage_edges
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_the_first_discovery_builds_the_lineage_graph(kafka_bootstrap, unique_name, eager_tasks):
    cluster = cluster_create(name=unique_name[:100], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    assert not LineageRefresh.objects.filter(cluster=cluster).exists()

    discover_cluster(cluster.pk, "test")

    # The refresh ran for this cluster, in the same call (no 5-minute wait).
    assert LineageRefresh.objects.filter(cluster=cluster).exists()
    assert cluster.topics.exists()
