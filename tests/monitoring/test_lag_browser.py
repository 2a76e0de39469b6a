"""Consumer lag and alerts in a real browser (Playwright driving Debian's Chromium against a live server).

The consumer groups list with status badges; a group's page with its per-partition table and the three Plotly
charts, the window selector, and the live refresh (HTMX polling every 15 s) changing a value without reloading
the page; the topic and service panels; cluster health; the alerts page and a rule form with an error.
Lag rows are written as the poller writes them (tests/monitoring/lag_rows.py).
Screenshots go to artifacts/screenshots/lag-*.png.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import SCREENSHOTS
from tests.factories import make_cluster, make_group, make_topic
from tests.monitoring.lag_rows import (
    make_group_history,
    make_lag_state,
    make_poll_run,
    make_throughput,
    partition_row,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lag_data():
    from catalog.services import documentation
    from monitoring.alert_rules import alert_rule_create
    from monitoring.alerts import evaluate_alerts

    cluster = make_cluster("shop-eu", discovery_enabled=False)
    placed = make_topic(cluster, "shop.orders.placed", partitions=3)
    payments = make_topic(cluster, "shop.payments.completed", partitions=2)
    service = documentation.service_create(name="analytics")
    groups = {
        "orders": make_group(cluster, "orders-service", topics=[placed]),
        "analytics": make_group(cluster, "analytics-service", topics=[placed, payments], service=service),
        "payments": make_group(cluster, "payments-service", topics=[payments]),
        "shipping": make_group(cluster, "shipping-service", topics=[payments]),
    }
    now = timezone.now()
    make_lag_state(
        groups["orders"],
        status="OK",
        partitions=[partition_row("shop.orders.placed", p, committed=1000 + p, log_end=1002 + p) for p in range(3)],
        max_time_lag_s=0.8,
        time_to_clear_s=0.5,
        consume_rate=42.0,
        produce_rate=40.0,
    )
    make_lag_state(
        groups["analytics"],
        status="WARN",
        since=now - timedelta(minutes=12),
        partitions=[
            # Committed before the poller's first point for this partition: "at least 5 min".
            partition_row(
                "shop.orders.placed", 0, committed=400, log_end=1002, time_lag_s=310.0, status="WARN", lower_bound=True
            ),
            partition_row("shop.orders.placed", 1, committed=700, log_end=1003, time_lag_s=150.0, status="WARN"),
            partition_row("shop.orders.placed", 2, committed=1004, log_end=1004),
            partition_row("shop.payments.completed", 0, committed=80, log_end=120, time_lag_s=45.0, status="WARN"),
            partition_row("shop.payments.completed", 1, committed=95, log_end=95),
        ],
        max_time_lag_s=310.0,
        time_lag_lower_bound=True,
        time_to_clear_s=None,
        consume_rate=8.0,
        produce_rate=12.5,
    )
    make_lag_state(
        groups["payments"],
        status="STOP",
        since=now - timedelta(minutes=30),
        partitions=[
            partition_row("shop.payments.completed", p, committed=10, log_end=120, time_lag_s=1800.0, status="STOP")
            for p in range(2)
        ],
        max_time_lag_s=1800.0,
        time_to_clear_s=None,
        consume_rate=0.0,
        produce_rate=3.0,
    )
    make_group_history(
        groups["analytics"],
        [
            (now - timedelta(minutes=60 - i), 200 + 15 * i, 60.0 + 4 * i, 8.0 + (i % 5), 12.5 + (i % 3))
            for i in range(60)
        ],
    )
    make_throughput(
        placed, rate=40.0, partitions=[{"partition": p, "log_end": 1002 + p, "rate": 13.3} for p in range(3)]
    )
    make_poll_run(cluster, ago=timedelta(seconds=5), duration_ms=180)
    alert_rule_create(
        name="payments stopped",
        kind="group_status",
        for_minutes=5,
        webhook_url="https://hooks.example.com/services/T/B/secret-token",
        payload_format="slack",
    )
    evaluate_alerts(deliver=False)
    return {"cluster": cluster, "groups": groups, "placed": placed, "service": service}


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_groups_list_group_page_charts_and_live_refresh(live_server, make_user, page, lag_data):
    make_user("vera", "viewer")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "vera")

    # The list: a status badge, lag in messages and seconds, time to clear, per group.
    page.goto(f"{live_server.url}/catalog/consumer-groups/")
    rows = page.locator("table.catalog-table tbody tr")
    assert rows.count() == 4
    badges = {
        row.locator("td.name-cell a").inner_text(): row.locator(".lag-cell .lag-status").first.inner_text()
        for row in rows.all()
    }
    assert badges == {
        "analytics-service": "WARN",
        "orders-service": "OK",
        "payments-service": "STOP",
        "shipping-service": "not measured",
    }
    analytics_row = page.locator("table.catalog-table tbody tr", has_text="analytics-service")
    assert "945" in analytics_row.inner_text()  # 602 + 303 + 0 + 40 + 0 messages behind
    assert "≥ 5 min behind" in analytics_row.inner_text()
    assert "not clearing" in analytics_row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "lag-groups-list.png"), full_page=True)

    # The group page: summary, partitions, three charts drawn by plotly.js.
    analytics_row.locator("td.name-cell a").click()
    page.wait_for_url("**/consumer-groups/shop-eu/analytics-service/")
    assert page.locator("#group-lag-status").inner_text() == "WARN"
    assert page.locator("#group-total-lag").inner_text() == "945"
    assert page.locator("#group-partitions tbody tr").count() == 5
    assert page.locator("#group-time-lag").inner_text() == "≥ 5 min"
    assert page.locator("#group-partitions tbody tr").nth(0).locator("td").nth(5).inner_text() == "≥ 5 min"
    assert page.locator("#group-partitions tbody tr").nth(1).locator("td").nth(5).inner_text() == "2 min"
    for chart in ("lag", "time-lag", "rates"):
        figure = page.locator(f"#chart-{chart} .js-plotly-plot")
        figure.wait_for()
        assert figure.locator(".main-svg").count() >= 1
    assert page.locator("#chart-rates .legendtext").all_text_contents() == ["produced /s", "consumed /s"]
    page.screenshot(path=str(SCREENSHOTS / "lag-group-page.png"), full_page=True)

    # The window selector swaps the charts in place.
    page.locator(".lag-window button[data-window='15m']").click()
    page.locator(".lag-charts[data-window='15m']").wait_for()
    assert page.locator(".lag-window button[aria-pressed=true]").inner_text() == "15m"
    for chart in ("lag", "time-lag", "rates"):
        page.locator(f"#chart-{chart} .js-plotly-plot .main-svg").first.wait_for()
    assert page.locator("#group-lag-charts .js-plotly-plot").count() == 3
    assert page.locator("#chart-rates .legendtext").all_text_contents() == ["produced /s", "consumed /s"]
    page.screenshot(path=str(SCREENSHOTS / "lag-group-page-15m.png"), full_page=True)

    # Live refresh: the poller writes a new state; within one polling period the page shows it, not reloaded.
    page.evaluate("window.__not_reloaded = true")
    make_lag_state(
        lag_data["groups"]["analytics"],
        status="OK",
        partitions=[partition_row("shop.orders.placed", 0, committed=1000, log_end=1007)],
        max_time_lag_s=1.5,
        time_to_clear_s=2.0,
    )
    expect(page.locator("#group-total-lag")).to_have_text("7", timeout=25_000)  # CSP forbids eval
    assert page.locator("#group-lag-status").inner_text() == "OK"
    assert page.evaluate("window.__not_reloaded") is True
    page.screenshot(path=str(SCREENSHOTS / "lag-group-page-refreshed.png"), full_page=True)
    assert errors == []


def test_topic_service_cluster_and_alert_pages(live_server, make_user, page, lag_data):
    make_user("eddie", "editor")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "eddie")

    page.goto(f"{live_server.url}/catalog/topics/shop-eu/shop.orders.placed/")
    assert page.locator("#topic-produce-rate").inner_text() == "40.0/s"
    assert page.locator("#topic-group-lag tbody tr").count() == 2
    page.locator("#topic-lag-panel").screenshot(path=str(SCREENSHOTS / "lag-topic-panel.png"))

    page.goto(f"{live_server.url}/catalog/services/{lag_data['service'].slug}/")
    assert page.locator("#service-group-lag tbody tr").count() == 1
    page.locator("#service-live").screenshot(path=str(SCREENSHOTS / "lag-service-panel.png"))

    page.goto(f"{live_server.url}/monitoring/")
    page.click("text=Consumer lag")
    page.wait_for_url("**/monitoring/clusters/")
    row = page.locator("#lag-clusters tbody tr[data-cluster='shop-eu']")
    assert "WARN 1" in row.inner_text() and "STOP 1" in row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "lag-clusters.png"), full_page=True)
    row.locator("a").first.click()
    page.wait_for_url(f"**/monitoring/clusters/{lag_data['cluster'].pk}/")
    assert page.locator("#cluster-last-status").inner_text() == "ok"
    assert page.locator("#groups-not-ok tbody tr").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "lag-cluster-health.png"), full_page=True)

    # The broker goes away: the poll fails, the data goes stale, and the pages say so (no error page).
    make_poll_run(lag_data["cluster"], status="failed", error="KafkaUnavailableError: broker 127.0.0.1:9092 down")
    make_lag_state(lag_data["groups"]["payments"], status="STOP", total_lag=220, stale=True)
    page.goto(f"{live_server.url}/catalog/consumer-groups/shop-eu/payments-service/")
    assert "Stale." in page.locator("#group-lag-stale").inner_text()
    assert page.locator("#group-total-lag").inner_text() == "220"
    page.locator("#group-lag").screenshot(path=str(SCREENSHOTS / "lag-group-stale.png"))
    page.goto(f"{live_server.url}/monitoring/clusters/{lag_data['cluster'].pk}/")
    assert "broker 127.0.0.1:9092 down" in page.locator("#cluster-stale-note").inner_text()

    page.goto(f"{live_server.url}/monitoring/alerts/")
    assert page.locator("#firing-count").inner_text() == "2 firing"  # analytics (WARN 12 min), payments (STOP)
    assert "payments-service" in page.locator("#open-alerts").inner_text()
    assert "secret-token" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "lag-alerts.png"), full_page=True)

    page.click("text=New rule")
    page.fill("#id_name", "analytics slow")
    page.select_option("#id_kind", "time_lag")
    page.fill("#id_threshold", "")
    page.fill("#id_webhook_url", "ftp://nope")
    page.click("#alert-rule-form button[type=submit]")
    assert "needs a threshold" in page.locator(".field-threshold .field-errors").inner_text()
    assert "http:// or https://" in page.locator(".field-webhook_url .field-errors").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "lag-alert-rule-form-errors.png"), full_page=True)
    page.fill("#id_threshold", "120")
    page.fill("#id_webhook_url", "https://hooks.example.com/services/x")
    page.click("#alert-rule-form button[type=submit]")
    page.wait_for_url("**/monitoring/alerts/#rule-*")
    assert "analytics slow" in page.locator("#alert-rules").inner_text()
    assert "time lag > 120 s" in page.locator("#alert-rules").inner_text()
    assert errors == []
