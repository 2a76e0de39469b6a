"""Alert evaluation and webhook delivery, against a real HTTP receiver (a server in a thread of the test).

The lag rows are written directly (tests/monitoring/lag_rows.py); evaluate_alerts() is the production entry point
that the poll task and the beat fallback call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from monitoring.alert_rules import alert_rule_create, alert_rule_update, mask_webhook_url
from monitoring.alerts import MAX_ATTEMPTS, evaluate_alerts
from monitoring.models import Alert, AlertNotification, AlertRule
from monitoring.webhooks import PRIVATE_REFUSAL, private_destination, webhook_post
from tests.factories import make_cluster, make_group
from tests.monitoring.lag_rows import make_lag_state, make_poll_run

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver: records every POST (path, headers, JSON body) and answers with `status`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body, "json": json.loads(body.decode())}
                )
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the test output clean
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-secret/abc"

    @property
    def bodies(self) -> list[dict]:
        return [request["json"] for request in self.requests]


@pytest.fixture(autouse=True)
def webhooks_may_reach_this_machine(settings):
    """The receiver listens on 127.0.0.1, which webhooks refuse by default (see the private-network tests)."""
    settings.EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def cluster(unique_name):
    return make_cluster(unique_name[:90], discovery_enabled=False)


def _lag_rule(receiver, **fields) -> AlertRule:
    values = {
        "name": "orders lag",
        "kind": AlertRule.Kind.LAG_MESSAGES,
        "threshold": 100,
        "webhook_url": receiver.url,
    }
    values.update(fields)
    return alert_rule_create(**values)


# ---------------------------------------------------------------------------------------------
# The journey the issue asks for: fires once, resolves once
# ---------------------------------------------------------------------------------------------
def test_a_rule_fires_once_to_a_webhook_receiver_and_resolves_once(receiver, cluster):
    group = make_group(cluster, "orders-service")
    rule = _lag_rule(receiver)
    make_lag_state(group, status="WARN", total_lag=500, max_time_lag_s=42.0)

    summary = evaluate_alerts()
    assert (summary.fired, summary.sent, summary.failed) == (1, 1, 0)
    # Still over the threshold: further cycles send nothing new.
    for _ in range(3):
        assert evaluate_alerts().fired == 0
    make_lag_state(group, status="WARN", total_lag=900, max_time_lag_s=60.0)
    assert evaluate_alerts().fired == 0
    assert len(receiver.requests) == 1

    firing = receiver.bodies[0]
    assert firing["source"] == "eventscope"
    assert firing["status"] == "firing"
    assert firing["rule"] == {
        "id": rule.pk,
        "name": "orders lag",
        "kind": "lag_messages",
        "condition": "lag > 100 messages",
    }
    assert firing["subject"]["cluster"] == cluster.name
    assert firing["subject"]["group"] == "orders-service"
    assert firing["value"] == 500
    assert firing["threshold"] == 100
    assert firing["url"] == f"/catalog/consumer-groups/{cluster.name}/orders-service/"
    assert receiver.requests[0]["path"] == "/hooks/T0KEN-secret/abc"
    assert receiver.requests[0]["headers"]["Content-Type"] == "application/json"

    # Back under the threshold: one "resolved", then quiet.
    make_lag_state(group, status="OK", total_lag=3)
    summary = evaluate_alerts()
    assert (summary.resolved, summary.sent) == (1, 1)
    for _ in range(3):
        assert evaluate_alerts().resolved == 0
    assert [body["status"] for body in receiver.bodies] == ["firing", "resolved"]
    resolved = receiver.bodies[1]
    assert resolved["resolution"] == "condition cleared"
    assert resolved["resolved_at"] is not None

    alert = Alert.objects.get(rule=rule)
    assert alert.state == Alert.State.RESOLVED and not alert.is_open
    assert list(alert.notifications.order_by("created_at").values_list("event", "status", "response_status")) == [
        ("firing", "sent", 200),
        ("resolved", "sent", 200),
    ]

    # A new episode is a new alert with its own firing notification.
    make_lag_state(group, status="WARN", total_lag=1000)
    assert evaluate_alerts().fired == 1
    assert [body["status"] for body in receiver.bodies] == ["firing", "resolved", "firing"]
    assert Alert.objects.filter(rule=rule).count() == 2


def test_slack_compatible_payload_has_text_and_blocks(receiver, cluster):
    group = make_group(cluster, "payments")
    _lag_rule(receiver, kind=AlertRule.Kind.TIME_LAG, threshold=30, payload_format="slack", name="slow payments")
    make_lag_state(group, status="WARN", total_lag=50, max_time_lag_s=95.0)
    evaluate_alerts()
    make_lag_state(group, status="OK", total_lag=0, max_time_lag_s=0.0)
    evaluate_alerts()
    firing, resolved = receiver.bodies
    assert set(firing) == {"text", "blocks"}
    assert "[FIRING] slow payments" in firing["text"]
    assert "time lag 95 s > 30 s" in firing["text"]
    assert firing["blocks"][0]["type"] == "section"
    assert firing["blocks"][0]["text"]["type"] == "mrkdwn"
    assert "[RESOLVED] slow payments" in resolved["text"]


# ---------------------------------------------------------------------------------------------
# Conditions, durations, scope
# ---------------------------------------------------------------------------------------------
def test_status_rule_waits_for_its_duration_then_fires(receiver, cluster):
    group = make_group(cluster, "shipping")
    now = timezone.now()
    _lag_rule(receiver, kind=AlertRule.Kind.GROUP_STATUS, threshold=None, for_minutes=5, name="not ok 5m")
    make_lag_state(group, status="STALL", total_lag=20, since=now - timedelta(minutes=2))

    summary = evaluate_alerts(now=now)
    assert (summary.pending, summary.fired) == (1, 0)
    assert Alert.objects.get().state == Alert.State.PENDING
    assert evaluate_alerts(now=now + timedelta(minutes=2)).fired == 0
    assert receiver.requests == []

    assert evaluate_alerts(now=now + timedelta(minutes=3, seconds=1)).fired == 1
    assert receiver.bodies[0]["status"] == "firing"
    assert "shipping is STALL" in receiver.bodies[0]["message"]

    # A pending alert whose condition clears goes away without a word.
    other = make_group(cluster, "analytics")
    make_lag_state(other, status="WARN", since=now)
    evaluate_alerts(now=now + timedelta(minutes=4))
    assert Alert.objects.filter(group=other, state=Alert.State.PENDING).exists()
    make_lag_state(other, status="OK", since=now)
    evaluate_alerts(now=now + timedelta(minutes=4))
    assert not Alert.objects.filter(group=other).exists()
    assert len(receiver.requests) == 1


def test_value_rule_with_a_duration_counts_from_when_it_first_held(receiver, cluster):
    group = make_group(cluster, "inventory")
    now = timezone.now()
    _lag_rule(receiver, for_minutes=10)
    make_lag_state(group, status="WARN", total_lag=5000)
    assert evaluate_alerts(now=now).pending == 1
    assert evaluate_alerts(now=now + timedelta(minutes=9)).fired == 0
    assert evaluate_alerts(now=now + timedelta(minutes=10)).fired == 1
    assert len(receiver.requests) == 1


def test_group_pattern_and_cluster_scope(receiver, cluster, unique_name):
    other_cluster = make_cluster(f"{unique_name[:80]}-b", discovery_enabled=False)
    matching = make_group(cluster, "orders-eu")
    not_matching = make_group(cluster, "payments-eu")
    elsewhere = make_group(other_cluster, "orders-us")
    for group in (matching, not_matching, elsewhere):
        make_lag_state(group, status="WARN", total_lag=1000)
    _lag_rule(receiver, cluster=cluster, group_pattern="orders-*")

    assert evaluate_alerts().fired == 1
    assert [body["subject"]["group"] for body in receiver.bodies] == ["orders-eu"]
    # Evaluating only the other cluster touches nothing of this one.
    make_lag_state(matching, status="OK", total_lag=0)
    assert evaluate_alerts(cluster=other_cluster).resolved == 0
    assert evaluate_alerts(cluster=cluster).resolved == 1


def test_stale_and_unknown_states_neither_fire_nor_resolve(receiver, cluster):
    group = make_group(cluster, "notifications")
    _lag_rule(receiver, kind=AlertRule.Kind.GROUP_STATUS, threshold=None, name="status")
    make_lag_state(group, status="STOP", total_lag=10, stale=True)
    assert evaluate_alerts().fired == 0
    make_lag_state(group, status="UNKNOWN", total_lag=10)
    assert evaluate_alerts().fired == 0
    make_lag_state(group, status="STOP", total_lag=10)
    assert evaluate_alerts().fired == 1
    # The poll fails: the last state goes stale; the alert stays as it was.
    make_lag_state(group, status="OK", total_lag=0, stale=True)
    assert evaluate_alerts().resolved == 0
    assert Alert.objects.get().state == Alert.State.FIRING
    assert len(receiver.requests) == 1


def test_deleted_groups_never_alert_and_their_open_alerts_resolve(receiver, cluster):
    gone = make_group(cluster, "retired-consumer", deleted_at=timezone.now())
    make_lag_state(gone, status="STOP", total_lag=10_000)
    live = make_group(cluster, "live-consumer")
    make_lag_state(live, status="STOP", total_lag=10_000)
    _lag_rule(receiver)
    assert evaluate_alerts().fired == 1
    assert receiver.bodies[0]["subject"]["group"] == "live-consumer"

    live.deleted_at = timezone.now()
    live.save(update_fields=["deleted_at"])
    assert evaluate_alerts().resolved == 1
    assert receiver.bodies[1]["status"] == "resolved"
    assert receiver.bodies[1]["resolution"] == "consumer group deleted"
    assert evaluate_alerts().fired == 0


def test_disabling_a_rule_resolves_its_open_alerts(receiver, cluster):
    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    rule = _lag_rule(receiver)
    evaluate_alerts()
    alert_rule_update(rule=rule, enabled=False)
    assert evaluate_alerts().resolved == 1
    assert receiver.bodies[-1]["resolution"] == "rule disabled"
    assert evaluate_alerts().fired == 0


def test_no_data_from_a_cluster(receiver, cluster):
    now = timezone.now()
    alert_rule_create(name="cluster silent", kind=AlertRule.Kind.NO_DATA, for_minutes=10, webhook_url=receiver.url)
    make_poll_run(cluster, ago=timedelta(minutes=3))
    make_poll_run(cluster, status="failed", ago=timedelta(minutes=1), error="broker down")
    assert evaluate_alerts(cluster=cluster, now=now).fired == 0
    # Failed polls do not count: ten minutes after the last good one, it fires.
    make_poll_run(cluster, status="failed", ago=timedelta(0), error="broker down")
    assert evaluate_alerts(cluster=cluster, now=now + timedelta(minutes=8)).fired == 1
    body = receiver.bodies[0]
    assert body["subject"] == {
        "key": f"cluster:{cluster.pk}",
        "name": cluster.name,
        "cluster": cluster.name,
        "group": None,
    }
    assert body["url"] == f"/monitoring/clusters/{cluster.pk}/"
    assert "no successful lag poll" in body["message"]
    # The poller recovers.
    make_poll_run(cluster, ago=timedelta(0))
    assert evaluate_alerts(cluster=cluster).resolved == 1
    assert [body["status"] for body in receiver.bodies] == ["firing", "resolved"]


# ---------------------------------------------------------------------------------------------
# Delivery failures never break a cycle; they are recorded and retried
# ---------------------------------------------------------------------------------------------
def test_failed_delivery_is_recorded_and_retried(receiver, cluster):
    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    _lag_rule(receiver)
    receiver.status = 500
    summary = evaluate_alerts()
    assert (summary.fired, summary.sent, summary.failed) == (1, 0, 1)
    notification = AlertNotification.objects.get()
    assert (notification.status, notification.response_status, notification.error) == ("failed", 500, "HTTP 500")
    assert notification.attempts == 1

    receiver.status = 200
    assert evaluate_alerts().sent == 0  # the next cycle backs off
    summary = evaluate_alerts(now=timezone.now() + timedelta(seconds=61))
    assert (summary.fired, summary.sent) == (0, 1)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.error) == ("sent", 2, "")
    assert [body["status"] for body in receiver.bodies] == ["firing", "firing"]  # the retry of the same one
    assert evaluate_alerts().sent == 0


def test_unreachable_webhook_gives_up_after_max_attempts(cluster):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    alert_rule_create(
        name="dead hook", kind=AlertRule.Kind.LAG_MESSAGES, threshold=1, webhook_url=f"http://127.0.0.1:{port}/x"
    )
    for minute in range(0, 10 * MAX_ATTEMPTS, 2):
        evaluate_alerts(now=timezone.now() + timedelta(minutes=minute))
    notification = AlertNotification.objects.get()
    assert notification.status == "failed"
    assert notification.attempts == MAX_ATTEMPTS
    assert notification.error == "could not connect"
    assert Alert.objects.get().state == Alert.State.FIRING


def test_a_rule_without_webhook_keeps_history(cluster):
    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    alert_rule_create(name="page only", kind=AlertRule.Kind.LAG_MESSAGES, threshold=1)
    assert evaluate_alerts().fired == 1
    assert AlertNotification.objects.get().status == "skipped"


# ---------------------------------------------------------------------------------------------
# Rules: validation, and the webhook URL's secrecy
# ---------------------------------------------------------------------------------------------
def test_webhook_url_is_encrypted_and_masked(receiver):
    rule = _lag_rule(receiver)
    assert "T0KEN" not in rule.webhook_url_encrypted
    assert rule.webhook_url_masked == f"http://127.0.0.1:{receiver.server.server_address[1]}/…"
    assert mask_webhook_url("https://user:pw@hooks.slack.com/services/T/B/X?token=1") == "https://hooks.slack.com/…"
    rule = alert_rule_update(rule=rule, name="renamed")
    assert rule.has_webhook  # kept when not named
    rule = alert_rule_update(rule=rule, webhook_url="")
    assert not rule.has_webhook and rule.webhook_url_masked == ""


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "lag_messages"}, "threshold", "needs a threshold"),
        ({"kind": "time_lag", "threshold": -1}, "threshold", "from 0"),
        ({"kind": "group_status", "threshold": 5}, "threshold", "leave it empty"),
        ({"kind": "no_data", "for_minutes": 0}, "for_minutes", "at least 1 minute"),
        ({"kind": "no_data", "for_minutes": 5, "group_pattern": "x*"}, "group_pattern", "leave the group pattern"),
        ({"kind": "group_status", "for_minutes": 100_000}, "for_minutes", "0 to"),
        ({"kind": "bogus"}, "kind", "not a valid choice"),
        ({"kind": "group_status", "webhook_url": "ftp://example.com/x"}, "webhook_url", "http"),
        ({"kind": "group_status", "webhook_url": "not a url"}, "webhook_url", "http"),
        ({"kind": "group_status", "name": ""}, "name", "cannot be blank"),
        ({"kind": "group_status", "payload_format": "xml"}, "payload_format", "not a valid choice"),
    ],
)
def test_bad_rules_are_rejected_and_nothing_is_saved(fields, field, message):
    values = {"name": "a rule", **fields}
    with pytest.raises(ValidationError) as caught:
        alert_rule_create(**values)
    assert field in caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])
    assert not AlertRule.objects.exists()


def test_duplicate_rule_name_is_a_field_error():
    alert_rule_create(name="same", kind="group_status")
    with pytest.raises(ValidationError) as caught:
        alert_rule_create(name="same", kind="group_status")
    assert "name" in caught.value.message_dict
    assert AlertRule.objects.count() == 1


def test_a_rule_with_a_signing_secret_signs_each_post(receiver, cluster):
    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    rule = _lag_rule(receiver, webhook_secret="s1gn-me")
    assert rule.has_webhook_secret and "s1gn-me" not in rule.webhook_secret_encrypted
    evaluate_alerts()
    request = receiver.requests[0]
    expected = "sha256=" + hmac.new(b"s1gn-me", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Eventscope-Signature"] == expected
    # Removing the webhook removes its secret too; without a secret nothing is signed.
    rule = alert_rule_update(rule=rule, webhook_url="")
    assert not rule.has_webhook_secret
    rule = alert_rule_update(rule=rule, webhook_url=receiver.url)
    make_lag_state(group, status="OK", total_lag=0)
    evaluate_alerts()
    assert "X-Eventscope-Signature" not in receiver.requests[1]["headers"]


def test_the_beat_fallback_task_evaluates_every_cluster(receiver, cluster):
    from monitoring.alert_tasks import evaluate_alerts_task

    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    _lag_rule(receiver)
    evaluate_alerts_task.apply()  # run in this process, as a worker would
    assert [body["status"] for body in receiver.bodies] == ["firing"]


def test_two_evaluations_racing_on_the_same_view_notify_once(receiver, cluster):
    """Both read "no open alert" (then both "firing") before either wrote: the constraints and conditional updates
    let exactly one of them fire, and one resolve."""
    from monitoring.alerts import EvaluationSummary, _apply, _rule_observations
    from monitoring.models import GroupLagState

    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    rule = _lag_rule(receiver)
    now = timezone.now()
    states = list(GroupLagState.objects.select_related("group", "group__cluster"))
    observations = _rule_observations(rule, states, [cluster], {}, now)
    first, second = EvaluationSummary(), EvaluationSummary()
    _apply(rule, observations, [], now, first)
    _apply(rule, observations, [], now + timedelta(milliseconds=5), second)
    assert (first.fired, second.fired) == (1, 0)
    assert Alert.objects.filter(rule=rule).count() == 1

    open_alerts = list(Alert.objects.filter(rule=rule, is_open=True).select_related("group"))
    make_lag_state(group, status="OK", total_lag=0)
    states = list(GroupLagState.objects.select_related("group", "group__cluster"))
    observations = _rule_observations(rule, states, [cluster], {}, now)
    _apply(rule, observations, open_alerts, now + timedelta(seconds=1), first)
    _apply(rule, observations, open_alerts, now + timedelta(seconds=2), second)
    assert (first.resolved, second.resolved) == (1, 0)
    assert sorted(AlertNotification.objects.values_list("event", flat=True)) == ["firing", "resolved"]


def test_links_are_absolute_with_a_base_url(receiver, cluster, settings):
    settings.EVENTSCOPE_BASE_URL = "https://eventscope.example.com"
    group = make_group(cluster, "orders")
    make_lag_state(group, status="WARN", total_lag=1000)
    _lag_rule(receiver, payload_format="slack")
    evaluate_alerts()
    link = f"https://eventscope.example.com/catalog/consumer-groups/{cluster.name}/orders/"
    assert f"<{link}|open in Eventscope>" in receiver.bodies[0]["blocks"][1]["elements"][0]["text"]


# ---------------------------------------------------------------------------------------------
# Grouped notifications: a mass outage is one message per rule, not one per group
# ---------------------------------------------------------------------------------------------
def test_thirty_groups_going_bad_at_once_are_one_firing_request_and_one_resolved(receiver, cluster):
    groups = [make_group(cluster, f"svc-{index:02d}") for index in range(30)]
    rule = _lag_rule(receiver)
    for index, group in enumerate(groups):
        make_lag_state(group, status="WARN", total_lag=1000 + index)

    summary = evaluate_alerts()
    assert (summary.fired, summary.sent, summary.failed) == (30, 30, 0)
    assert len(receiver.requests) == 1
    firing = receiver.bodies[0]
    assert firing["status"] == "firing"
    assert firing["rule"]["id"] == rule.pk and firing["rule"]["condition"] == "lag > 100 messages"
    assert firing["count"] == 30
    assert sorted(alert["subject"]["group"] for alert in firing["alerts"]) == [f"svc-{i:02d}" for i in range(30)]
    one = next(alert for alert in firing["alerts"] if alert["subject"]["group"] == "svc-07")
    assert one["value"] == 1007 and one["threshold"] == 100
    assert one["url"] == f"/catalog/consumer-groups/{cluster.name}/svc-07/"
    assert one["message"] == f"{cluster.name} / svc-07: lag 1,007 messages > 100"
    assert firing["message"] == "30 consumer groups: lag > 100 messages"
    assert firing["url"] == "/monitoring/alerts/"
    assert "subject" not in firing  # several subjects: the per-alert fields are in "alerts" only

    # De-duplication stays per alert: further cycles send nothing; the history has one row per alert.
    assert evaluate_alerts().sent == 0
    assert len(receiver.requests) == 1
    assert Alert.objects.filter(rule=rule, state=Alert.State.FIRING).count() == 30
    assert AlertNotification.objects.filter(event="firing", status="sent", response_status=200).count() == 30

    # 29 recover now, the last one a cycle later: one resolved request with 29, then one with the last.
    for group in groups[:-1]:
        make_lag_state(group, status="OK", total_lag=0)
    summary = evaluate_alerts()
    assert (summary.resolved, summary.sent) == (29, 29)
    make_lag_state(groups[-1], status="OK", total_lag=0)
    assert evaluate_alerts().resolved == 1
    assert [body["status"] for body in receiver.bodies] == ["firing", "resolved", "resolved"]
    resolved = receiver.bodies[1]
    assert resolved["count"] == 29 and len(resolved["alerts"]) == 29
    assert {alert["resolution"] for alert in resolved["alerts"]} == {"condition cleared"}
    assert all(alert["resolved_at"] for alert in resolved["alerts"])
    assert "svc-29" not in {alert["subject"]["group"] for alert in resolved["alerts"]}
    last = receiver.bodies[2]  # one alert: today's shape, plus count and a list of one
    assert last["count"] == 1 and last["subject"]["group"] == "svc-29"
    assert last["alerts"] == [{key: last[key] for key in last["alerts"][0]}]
    assert AlertNotification.objects.filter(event="resolved", status="sent").count() == 30
    for _ in range(2):
        assert evaluate_alerts().sent == 0
    assert len(receiver.requests) == 3


def test_all_at_once_then_all_recover_is_exactly_two_requests(receiver, cluster):
    groups = [make_group(cluster, f"g-{index:02d}") for index in range(30)]
    _lag_rule(receiver)
    for group in groups:
        make_lag_state(group, status="STOP", total_lag=5000)
    evaluate_alerts()
    for group in groups:
        make_lag_state(group, status="OK", total_lag=0)
    evaluate_alerts()
    assert [(body["status"], body["count"]) for body in receiver.bodies] == [("firing", 30), ("resolved", 30)]
    assert {alert["subject"]["group"] for alert in receiver.bodies[1]["alerts"]} == {g.group_id for g in groups}


def test_grouping_is_per_rule_and_each_rule_keeps_its_webhook(receiver, cluster):
    groups = [make_group(cluster, f"orders-{index}") for index in range(3)]
    for group in groups:
        make_lag_state(group, status="WARN", total_lag=1000, max_time_lag_s=120.0)
    lag_rule = _lag_rule(receiver)
    time_rule = _lag_rule(receiver, name="slow", kind=AlertRule.Kind.TIME_LAG, threshold=60)
    assert evaluate_alerts().fired == 6
    assert len(receiver.requests) == 2
    by_rule = {body["rule"]["id"]: body for body in receiver.bodies}
    assert by_rule[lag_rule.pk]["count"] == 3 and by_rule[time_rule.pk]["count"] == 3
    assert "time lag 120 s > 60 s" in by_rule[time_rule.pk]["alerts"][0]["message"]


def test_grouped_slack_message_lists_some_subjects_then_says_how_many_more(receiver, cluster, settings):
    settings.EVENTSCOPE_BASE_URL = "https://eventscope.example.com"
    groups = [make_group(cluster, f"team-{index:02d}") for index in range(25)]
    _lag_rule(receiver, payload_format="slack", name="backlog")
    for group in groups:
        make_lag_state(group, status="WARN", total_lag=500)
    evaluate_alerts()
    for group in groups:
        make_lag_state(group, status="OK", total_lag=0)
    evaluate_alerts()
    firing, resolved = receiver.bodies
    assert set(firing) == {"text", "blocks"}
    lines = firing["text"].split("\n")
    assert lines[0] == ":rotating_light: [FIRING] backlog: 25 consumer groups: lag > 100 messages"
    assert lines[1:11] == [f"• {cluster.name} / team-{i:02d}: lag 500 messages > 100" for i in range(10)]
    assert lines[11:] == ["and 15 more"]
    assert firing["blocks"][0]["text"]["text"] == f"*{lines[0]}*\n" + "\n".join(lines[1:])
    assert len(firing["blocks"][0]["text"]["text"]) <= 3000  # Slack's limit for a section's text
    assert (
        "<https://eventscope.example.com/monitoring/alerts/|open in Eventscope>"
        in (firing["blocks"][1]["elements"][0]["text"])
    )
    assert resolved["text"].split("\n")[0] == ":white_check_mark: [RESOLVED] backlog: 25 consumer groups resolved"
    assert resolved["text"].split("\n")[1] == f"• {cluster.name} / team-00: condition cleared"
    assert resolved["text"].endswith("\nand 15 more")


def test_a_failed_grouped_delivery_is_recorded_on_every_alert_and_retried_as_one(receiver, cluster):
    groups = [make_group(cluster, f"pay-{index}") for index in range(5)]
    for group in groups:
        make_lag_state(group, status="WARN", total_lag=1000)
    _lag_rule(receiver)
    receiver.status = 503
    summary = evaluate_alerts()
    assert (summary.fired, summary.sent, summary.failed) == (5, 0, 5)
    assert len(receiver.requests) == 1
    assert set(AlertNotification.objects.values_list("status", "response_status", "error", "attempts")) == {
        ("failed", 503, "HTTP 503", 1)
    }
    # The cycle went on: the alerts fired all the same.
    assert Alert.objects.filter(state=Alert.State.FIRING).count() == 5

    receiver.status = 200
    summary = evaluate_alerts(now=timezone.now() + timedelta(seconds=61))
    assert (summary.fired, summary.sent, summary.failed) == (0, 5, 0)
    assert [(body["status"], body["count"]) for body in receiver.bodies] == [("firing", 5), ("firing", 5)]
    assert set(AlertNotification.objects.values_list("status", "attempts")) == {("sent", 2)}


def test_an_unreachable_webhook_does_not_hold_up_another_rule_s_grouped_post(receiver, cluster):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for index in range(4):
        make_lag_state(make_group(cluster, f"inv-{index}"), status="WARN", total_lag=1000)
    alert_rule_create(
        name="dead", kind=AlertRule.Kind.LAG_MESSAGES, threshold=1, webhook_url=f"http://127.0.0.1:{port}/"
    )
    _lag_rule(receiver)
    summary = evaluate_alerts()
    assert (summary.fired, summary.sent, summary.failed) == (8, 4, 4)
    assert [body["count"] for body in receiver.bodies] == [4]
    assert set(AlertNotification.objects.filter(alert__rule__name="dead").values_list("status", "error")) == {
        ("failed", "could not connect")
    }


def test_a_time_lag_that_is_only_a_lower_bound_says_at_least(receiver, cluster):
    group = make_group(cluster, "archive")
    _lag_rule(receiver, kind=AlertRule.Kind.TIME_LAG, threshold=60, name="archive behind")
    make_lag_state(group, status="WARN", total_lag=50, max_time_lag_s=95.0, time_lag_lower_bound=True)
    assert evaluate_alerts().fired == 1
    assert receiver.bodies[0]["message"] == f"{cluster.name} / archive: time lag ≥ 95 s > 60 s"


# ---------------------------------------------------------------------------------------------
# Webhooks to private networks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1:8000/hook", True),
        ("http://localhost/hook", True),
        ("http://169.254.169.254/latest/meta-data/", True),  # the cloud's metadata service
        ("https://10.1.2.3/hook", True),
        ("https://192.168.0.7/hook", True),
        ("http://[::1]/hook", True),
        ("http://[::ffff:127.0.0.1]/hook", True),
        ("http://0.0.0.0/hook", True),
        ("https://93.184.216.34/hook", False),
        ("https://[2606:4700::6810:85e5]/hook", False),
    ],
)
def test_private_destinations(url, private):
    assert private_destination(url) is private


def test_an_unresolvable_name_is_not_judged():
    assert private_destination("https://no-such-host.invalid/hook") is None


def test_a_rule_pointing_at_a_private_address_is_refused_unless_allowed(settings, receiver):
    settings.EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as refused:
        alert_rule_create(name="metadata", kind="group_status", webhook_url="http://169.254.169.254/latest/")
    assert "private or local network" in str(refused.value.message_dict["webhook_url"])
    assert not AlertRule.objects.exists()
    # A public name that does not resolve now is kept: sending checks again.
    alert_rule_create(name="later", kind="group_status", webhook_url="https://hooks.example.invalid/T/B/x")
    assert AlertRule.objects.filter(name="later").exists()


def test_a_private_address_is_refused_when_sending_too(settings, receiver):
    """A rule saved while allowed (or a name that later resolves inside the network) is not posted to."""
    rule = alert_rule_create(name="inside", kind="group_status", webhook_url=receiver.url)
    settings.EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE = False
    result = webhook_post(receiver.url, {"status": "firing"})
    assert (result.ok, result.status_code, result.error) == (False, None, PRIVATE_REFUSAL)
    assert receiver.requests == []
    assert "127.0.0.1" not in result.error and rule.pk
