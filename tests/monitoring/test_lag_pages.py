"""Lag on the pages, through the real URL conf: the consumer groups list (badges, lag, time lag, time to clear),
the group page (summary, partitions, charts, live partials), the topic and service panels, cluster health, and
stale or missing data shown as such (never a 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import DeclaredRelation
from catalog.services import documentation
from tests.factories import make_cluster, make_group, make_topic
from tests.monitoring.lag_rows import (
    make_group_history,
    make_lag_state,
    make_poll_run,
    make_throughput,
    partition_row,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    cluster = make_cluster("local", discovery_enabled=False)
    placed = make_topic(cluster, "shop.orders.placed", partitions=2)
    payments = make_topic(cluster, "shop.payments.completed", partitions=1)
    orders = make_group(cluster, "orders-svc", topics=[placed])
    slow = make_group(cluster, "analytics-svc", topics=[placed, payments])
    quiet = make_group(cluster, "never-measured", topics=[payments])
    make_lag_state(
        orders,
        status="OK",
        partitions=[
            partition_row("shop.orders.placed", 0, committed=100, log_end=100),
            partition_row("shop.orders.placed", 1, committed=90, log_end=92, time_lag_s=0.4),
        ],
        max_time_lag_s=0.4,
        time_to_clear_s=1.0,
    )
    make_lag_state(
        slow,
        status="STALL",
        since=timezone.now() - timedelta(minutes=7),
        partitions=[
            partition_row("shop.orders.placed", 0, committed=10, log_end=100, time_lag_s=340.0, status="STALL"),
            partition_row("shop.orders.placed", 1, committed=92, log_end=92),
            partition_row("shop.payments.completed", 0, committed=5, log_end=1205, time_lag_s=90.0, status="WARN"),
        ],
        max_time_lag_s=340.0,
        time_to_clear_s=None,
        consume_rate=1.0,
        produce_rate=4.0,
    )
    make_throughput(
        placed,
        rate=12.5,
        partitions=[{"partition": 0, "log_end": 100, "rate": 6.0}, {"partition": 1, "log_end": 92, "rate": 6.5}],
    )
    make_poll_run(cluster)
    return {"cluster": cluster, "placed": placed, "payments": payments, "orders": orders, "slow": slow, "quiet": quiet}


def _group_url(group) -> str:
    return reverse("catalog:consumer-group-detail", args=[group.cluster.name, group.group_id])


# ---------------------------------------------------------------------------------------------
# The consumer groups list
# ---------------------------------------------------------------------------------------------
def test_group_list_shows_status_badges_lag_time_lag_and_time_to_clear(viewer, shop):
    response = viewer.get(reverse("catalog:consumer-group-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="lag-status lag-STALL">STALL</span>' in html
    assert '<span class="lag-status lag-OK">OK</span>' in html
    assert '<span class="lag-status lag-none">not measured</span>' in html
    assert "1,290" in html  # analytics-svc: 90 + 0 + 1200 messages behind
    assert "5 min" in html  # 340 s of time lag, as people say it
    assert "not clearing" in html  # consuming slower than producing
    assert "≈ 1.0 s" in html  # orders-svc clears in a second
    assert "stale" not in html


def test_group_list_marks_stale_states_and_keeps_its_query_count(viewer, shop):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_lag_state(shop["orders"], status="OK", stale=True)
    url = reverse("catalog:consumer-group-list")
    with CaptureQueriesContext(connection) as few:
        response = viewer.get(url)
    assert 'lag-stale" title="the last poll failed or is overdue">stale</span>' in response.content.decode()
    # One query for the states of the whole page, whatever its length: no query per row.
    for index in range(20):
        make_lag_state(make_group(shop["cluster"], f"extra-{index}"), status="WARN", total_lag=index)
    with CaptureQueriesContext(connection) as many:
        response = viewer.get(url)
    assert response.content.decode().count("lag-status lag-WARN") == 20
    assert len(many) == len(few)


# ---------------------------------------------------------------------------------------------
# The group page and its live partials
# ---------------------------------------------------------------------------------------------
def test_group_page_has_summary_partitions_and_charts(viewer, shop):
    now = timezone.now()
    make_group_history(
        shop["slow"],
        [(now - timedelta(minutes=40 - i), 100 * i, 10.0 * i, 1.0, 4.0) for i in range(30)],
    )
    response = viewer.get(_group_url(shop["slow"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="group-lag-status" class="lag-status lag-STALL">STALL' in html
    assert 'id="group-total-lag">1,290<' in html
    assert 'id="group-time-lag">5 min<' in html
    assert 'id="group-time-to-clear">not clearing<' in html
    assert html.count('<tr data-partition="') == 3
    assert 'data-partition="shop.payments.completed-0"' in html
    # Live refresh of the summary every 15 s, the charts with a window selector; plotly.js from our static files.
    assert f'hx-get="{reverse("monitoring:group-lag-live", args=[shop["slow"].pk])}" hx-trigger="every 15s"' in html
    assert "/static/vendor/plotly-4.1.1.min.js" in html
    for chart in ("chart-lag", "chart-time-lag", "chart-rates"):
        assert f'<div class="lag-chart" id="{chart}">' in html
    assert html.count('class="plotly-graph-div"') == 3
    for window in ("15m", "1h", "6h", "24h", "7d"):
        assert f'data-window="{window}"' in html
    assert 'data-points="30"' in html


def test_a_time_lag_that_is_only_a_lower_bound_reads_at_least_on_every_page(viewer, shop):
    slow = shop["slow"]
    make_lag_state(
        slow,
        status="STALL",
        partitions=[
            partition_row("shop.orders.placed", 0, committed=10, log_end=100, time_lag_s=303.0, lower_bound=True),
            partition_row("shop.orders.placed", 1, committed=92, log_end=92, lower_bound=False),
            partition_row("shop.payments.completed", 0, committed=5, log_end=1205, time_lag_s=90.0, lower_bound=False),
        ],
        max_time_lag_s=303.0,
        time_lag_lower_bound=True,
    )
    at_least = '<span class="lag-lower-bound" title="At least this far behind'
    html = viewer.get(_group_url(slow)).content.decode()
    summary = html.split('id="group-time-lag">')[1].split("</span></span>")[0]
    assert summary.startswith(at_least) and summary.endswith(">≥ 5 min")
    assert "oldest unconsumed record (at least)" in html
    rows = {row.split('"')[0]: row for row in html.split('<tr data-partition="')[1:]}
    assert "≥ 5 min" in rows["shop.orders.placed-0"]
    assert "≥" not in rows["shop.orders.placed-1"] and "≥" not in rows["shop.payments.completed-0"]
    assert "1 min" in rows["shop.payments.completed-0"]

    listing = viewer.get(reverse("catalog:consumer-group-list")).content.decode()
    assert listing.count("≥ 5 min</span> behind") == 1  # analytics-svc only; orders-svc is exact
    health = viewer.get(reverse("monitoring:cluster-health", args=[shop["cluster"].pk])).content.decode()
    assert "≥ 5 min" in health

    # An exact value of the same size has no "≥".
    make_lag_state(slow, status="STALL", partitions=[], total_lag=90, max_time_lag_s=303.0)
    html = viewer.get(_group_url(slow)).content.decode()
    assert 'id="group-time-lag">5 min<' in html and "(at least)" not in html


def test_group_live_partial_and_charts_partial(viewer, shop):
    group = shop["slow"]
    live = viewer.get(reverse("monitoring:group-lag-live", args=[group.pk]), HTTP_HX_REQUEST="true")
    assert live.status_code == 200
    assert "<html" not in live.content.decode()
    assert 'id="group-total-lag">1,290<' in live.content.decode()
    make_lag_state(group, status="OK", total_lag=7)
    live = viewer.get(reverse("monitoring:group-lag-live", args=[group.pk]))
    assert 'id="group-total-lag">7<' in live.content.decode()

    now = timezone.now()
    make_group_history(
        group, [(now - timedelta(hours=5), 50, 5.0, 1.0, 1.0), (now - timedelta(minutes=5), 60, 6.0, 1.0, 1.0)]
    )
    charts = viewer.get(reverse("monitoring:group-lag-charts", args=[group.pk]), {"window": "6h"}).content.decode()
    assert 'data-window="6h" data-points="2"' in charts
    charts = viewer.get(reverse("monitoring:group-lag-charts", args=[group.pk]), {"window": "15m"}).content.decode()
    assert 'data-window="15m" data-points="1"' in charts
    # A window nobody offers falls back to the default, not an error.
    charts = viewer.get(reverse("monitoring:group-lag-charts", args=[group.pk]), {"window": "<script>"})
    assert charts.status_code == 200
    assert 'data-window="1h"' in charts.content.decode()
    assert "<script>" not in charts.content.decode().split('data-window="1h"')[0]
    assert viewer.get(reverse("monitoring:group-lag-live", args=[999999])).status_code == 404


def test_group_page_without_history_or_measurement(viewer, shop):
    html = viewer.get(_group_url(shop["orders"])).content.decode()
    assert 'id="group-lag-no-history"' in html
    html = viewer.get(_group_url(shop["quiet"])).content.decode()
    assert 'id="group-lag-unmeasured"' in html


def test_stale_and_old_data_is_shown_as_stale(viewer, shop, settings):
    make_lag_state(shop["orders"], status="OK", total_lag=3, stale=True)
    html = viewer.get(_group_url(shop["orders"])).content.decode()
    assert 'id="group-lag-stale"' in html
    assert 'id="group-total-lag">3<' in html  # the last figures are still shown
    # Not flagged, but not refreshed for more than three poll intervals: stale as well.
    make_lag_state(shop["orders"], status="OK", total_lag=3, sampled_at=timezone.now() - timedelta(minutes=5))
    settings.EVENTSCOPE_LAG_POLL_INTERVAL_S = 15
    assert 'id="group-lag-stale"' in viewer.get(_group_url(shop["orders"])).content.decode()


def test_deleted_group_page_says_it_is_not_polled(viewer, shop):
    group = shop["orders"]
    group.deleted_at = timezone.now()
    group.save(update_fields=["deleted_at"])
    response = viewer.get(_group_url(group))
    assert response.status_code == 200
    assert "no longer polled or alerted on" in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Topic and service pages
# ---------------------------------------------------------------------------------------------
def test_topic_page_shows_throughput_and_lag_of_its_groups(viewer, shop):
    topic = shop["placed"]
    html = viewer.get(reverse("catalog:topic-detail", args=[topic.cluster.name, topic.name])).content.decode()
    assert 'id="topic-produce-rate">12.5/s<' in html
    assert "#0 6.0/s · #1 6.5/s" in html
    assert 'id="topic-total-lag">92<' in html  # this topic's partitions only: 90 (analytics) + 2 (orders)
    assert html.index("analytics-svc") < html.index("orders-svc")  # the most behind first

    payments = shop["payments"]
    html = viewer.get(reverse("catalog:topic-detail", args=[payments.cluster.name, payments.name])).content.decode()
    assert "not measured yet" in html  # no throughput yet
    assert 'id="topic-total-lag">1,200<' in html
    assert "lag-none" in html  # never-measured reads it too


def test_service_page_shows_its_groups_lag_and_produced_topics(viewer, shop):
    service = documentation.service_create(name="analytics")
    documentation.consumer_group_update_documentation(group=shop["slow"], service=service)
    documentation.relation_create(
        service=service, direction=DeclaredRelation.Direction.PRODUCES, topic=shop["placed"], source="manual"
    )
    html = viewer.get(reverse("catalog:service-detail", args=[service.slug])).content.decode()
    assert 'id="service-group-lag"' in html
    assert "lag-STALL" in html
    assert "1,290" in html
    assert 'id="service-topic-throughput"' in html
    assert "12.5/s" in html


# ---------------------------------------------------------------------------------------------
# Cluster health
# ---------------------------------------------------------------------------------------------
def test_cluster_health_pages(viewer, shop):
    cluster = shop["cluster"]
    html = viewer.get(reverse("monitoring:cluster-list")).content.decode()
    assert f'data-cluster="{cluster.name}"' in html
    assert "STALL 1" in html

    url = reverse("monitoring:cluster-health", args=[cluster.pk])
    html = viewer.get(url).content.decode()
    assert 'id="cluster-fresh"' in html
    assert 'id="cluster-last-status">ok<' in html
    assert 'data-status="STALL">STALL 1<' in html
    assert 'id="groups-not-ok"' in html and "analytics-svc" in html

    make_poll_run(cluster, status="failed", error="KafkaUnavailableError: broker down")
    html = viewer.get(url).content.decode()
    assert 'id="cluster-stale-note"' in html
    assert "broker down" in html
    assert 'id="cluster-failures">1<' in html
    assert viewer.get(reverse("monitoring:cluster-health", args=[999999])).status_code == 404


def test_cluster_never_polled_is_stale_not_an_error(viewer):
    cluster = make_cluster("fresh-one", discovery_enabled=False)
    response = viewer.get(reverse("monitoring:cluster-health", args=[cluster.pk]))
    assert response.status_code == 200
    assert "has not polled this cluster yet" in response.content.decode()


def test_monitoring_hub_links_lag_and_alerts(viewer):
    html = viewer.get(reverse("monitoring:index")).content.decode()
    assert reverse("monitoring:cluster-list") in html
    assert reverse("monitoring:alerts") in html


def test_lag_pages_need_a_login(client, shop):
    for url in (
        reverse("monitoring:cluster-list"),
        reverse("monitoring:cluster-health", args=[shop["cluster"].pk]),
        reverse("monitoring:group-lag-live", args=[shop["orders"].pk]),
        reverse("monitoring:alerts"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_time_words_on_the_pages():
    """A tiny time lag is never "0.0 s" beside a "0 s"; a group consuming no faster than producing is "keeping up"
    while its status is OK (its lag is records in flight) and "not clearing" otherwise."""
    from types import SimpleNamespace

    from monitoring.templatetags.lag_tags import lag_seconds, state_time_to_clear, time_to_clear

    assert [lag_seconds(v) for v in (0, 0.01, 0.05, 4.25, None)] == ["0 s", "< 0.1 s", "0.1 s", "4.2 s", "—"]

    def state(status, total_lag=2):
        return SimpleNamespace(
            status=status, total_lag=total_lag, time_to_clear_s=None, consume_rate=50.0, produce_rate=50.0
        )

    assert state_time_to_clear(state("OK")) == "keeping up"
    assert state_time_to_clear(state("WARN")) == "not clearing"
    assert state_time_to_clear(state("WARN", total_lag=0)) == "caught up"
    assert time_to_clear({"time_to_clear": "never", "status": "OK"}) == "keeping up"
    assert time_to_clear({"time_to_clear": "never", "status": "STALL"}) == "not clearing"
