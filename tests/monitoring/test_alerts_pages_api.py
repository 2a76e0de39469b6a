"""The alerts page and rule forms (roles, form errors, the webhook never echoed) and the alert API
(/api/v1/alert-rules/ CRUD, /api/v1/alerts/ read), through the real URL conf."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from monitoring.alert_rules import alert_rule_create
from monitoring.alerts import evaluate_alerts
from monitoring.models import Alert, AlertRule
from tests.factories import make_cluster, make_group
from tests.monitoring.lag_rows import make_lag_state

pytestmark = pytest.mark.django_db

SECRET_URL = "https://hooks.example.com/services/T000/B000/SuperSecretToken123"


@pytest.fixture
def login(client, make_user):
    def as_role(role: str):
        client.force_login(make_user(f"{role}-user", role))
        return client

    return as_role


@pytest.fixture
def firing(db):
    cluster = make_cluster("local", discovery_enabled=False)
    group = make_group(cluster, "orders-svc")
    make_lag_state(group, status="STOP", total_lag=4321)
    rule = alert_rule_create(name="orders behind", kind="lag_messages", threshold=1000, webhook_url=SECRET_URL)
    # The webhook host does not exist: delivery fails, is recorded, and the page shows it.
    evaluate_alerts(deliver=False)
    return {"cluster": cluster, "group": group, "rule": rule}


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------
def test_alerts_page_shows_open_alerts_rules_and_history_without_the_webhook_secret(login, firing):
    client = login("viewer")
    response = client.get(reverse("monitoring:alerts"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="firing-count">1 firing<' in html
    assert 'id="open-alerts"' in html and "orders-svc" in html and "lag 4,321 messages" in html
    assert 'id="alert-history"' in html
    assert "lag &gt; 1000 messages" in html
    assert "https://hooks.example.com/…" in html
    assert "SuperSecretToken123" not in html
    assert "firing pending" in html  # the notification, not yet delivered
    # A viewer sees no write controls.
    assert reverse("monitoring:alert-rule-create") not in html
    assert "Delete" not in html


def test_viewer_can_look_at_a_form_but_not_save_or_delete(login, firing):
    client = login("viewer")
    assert client.get(reverse("monitoring:alert-rule-create")).status_code == 200
    response = client.post(reverse("monitoring:alert-rule-create"), {"name": "x", "kind": "group_status"})
    assert response.status_code == 403
    response = client.post(reverse("monitoring:alert-rule-delete", args=[firing["rule"].pk]))
    assert response.status_code == 403
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["orders behind"]


def test_editor_creates_edits_and_deletes_a_rule(login, firing):
    client = login("editor")
    form = {
        "name": "payments slow",
        "kind": "time_lag",
        "threshold": "60",
        "for_minutes": "5",
        "cluster": firing["cluster"].pk,
        "group_pattern": "payments-*",
        "webhook_url": SECRET_URL,
        "payload_format": "slack",
        "enabled": "on",
    }
    response = client.post(reverse("monitoring:alert-rule-create"), form)
    assert response.status_code == 302
    rule = AlertRule.objects.get(name="payments slow")
    assert (rule.kind, rule.threshold, rule.for_minutes, rule.cluster, rule.group_pattern) == (
        "time_lag",
        60,
        5,
        firing["cluster"],
        "payments-*",
    )
    assert rule.has_webhook and rule.payload_format == "slack"

    # The edit form never shows the stored URL; leaving it empty keeps it.
    edit_url = reverse("monitoring:alert-rule-edit", args=[rule.pk])
    html = client.get(edit_url).content.decode()
    assert "SuperSecretToken123" not in html
    assert "Stored: https://hooks.example.com/…" in html
    response = client.post(edit_url, {**form, "webhook_url": "", "threshold": "120"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 120 and rule.has_webhook
    response = client.post(edit_url, {**form, "webhook_url": "", "remove_webhook": "on"})
    rule.refresh_from_db()
    assert not rule.has_webhook

    response = client.post(reverse("monitoring:alert-rule-delete", args=[rule.pk]))
    assert response.status_code == 302
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "lag_messages", "threshold": ""}, "needs a threshold"),
        ({"threshold": "abc"}, "Enter a number"),
        ({"for_minutes": "-3"}, "greater than or equal to 0"),
        ({"webhook_url": "javascript:alert(1)"}, "http:// or https://"),
        ({"kind": "nope"}, "Select a valid choice"),
        ({"name": ""}, "This field is required"),
        ({"kind": "no_data", "threshold": "", "group_pattern": "x*"}, "leave the group pattern empty"),
    ],
)
def test_bad_form_input_is_a_form_error_and_changes_nothing(login, firing, changes, message):
    client = login("editor")
    form = {"name": "new rule", "kind": "time_lag", "threshold": "30", "for_minutes": "1", "payload_format": "json"}
    response = client.post(reverse("monitoring:alert-rule-create"), {**form, **changes})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert AlertRule.objects.count() == 1


def test_duplicate_name_is_a_form_error(login, firing):
    client = login("editor")
    response = client.post(
        reverse("monitoring:alert-rule-create"),
        {"name": "orders behind", "kind": "group_status", "for_minutes": "0", "payload_format": "json"},
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_unknown_rule_is_a_404(login):
    client = login("editor")
    assert client.get(reverse("monitoring:alert-rule-edit", args=[424242])).status_code == 404
    assert client.post(reverse("monitoring:alert-rule-delete", args=[424242])).status_code == 404


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def api(make_user):
    def client_for(role: str | None) -> APIClient:
        client = APIClient()
        if role:
            client.force_authenticate(make_user(f"api-{role}", role))
        return client

    return client_for


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    return body["error"]


def test_api_lists_rules_without_the_secret_and_alerts_with_notifications(api, firing):
    client = api("viewer")
    body = client.get("/api/v1/alert-rules/").json()
    assert body["count"] == 1
    rule = body["results"][0]
    assert rule["name"] == "orders behind"
    assert rule["condition"] == "lag > 1000 messages"
    assert rule["webhook_url_masked"] == "https://hooks.example.com/…"
    assert rule["open_alerts"] == 1
    assert "webhook_url" not in rule and "webhook_url_encrypted" not in rule
    assert "SuperSecretToken123" not in client.get(f"/api/v1/alert-rules/{rule['id']}/").content.decode()

    alerts = client.get("/api/v1/alerts/", {"open": "true"}).json()
    assert alerts["count"] == 1
    alert = alerts["results"][0]
    assert (alert["state"], alert["cluster"], alert["group"], alert["value"]) == ("firing", "local", "orders-svc", 4321)
    assert alert["rule"] == {"id": firing["rule"].pk, "name": "orders behind", "kind": "lag_messages"}
    assert [n["event"] for n in alert["notifications"]] == ["firing"]
    assert client.get("/api/v1/alerts/", {"state": "resolved"}).json()["count"] == 0
    assert client.get(f"/api/v1/alerts/{alert['id']}/").json()["id"] == alert["id"]
    _error(client.get("/api/v1/alerts/", {"state": "exploded"}), 400)
    _error(client.get("/api/v1/alerts/", {"rule": "x"}), 400)
    _error(client.get("/api/v1/alerts/999999/"), 404)
    _error(client.get("/api/v1/alerts/abc/"), 404)
    _error(api(None).get("/api/v1/alerts/"), 401)


def test_api_rule_crud_needs_an_editor(api, firing):
    viewer = api("viewer")
    _error(viewer.post("/api/v1/alert-rules/", {"name": "x", "kind": "group_status"}, format="json"), 403)
    editor = api("editor")
    response = editor.post(
        "/api/v1/alert-rules/",
        {
            "name": "silent cluster",
            "kind": "no_data",
            "for_minutes": 10,
            "cluster": "local",
            "webhook_url": SECRET_URL,
            "payload_format": "slack",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["cluster"] == "local" and created["has_webhook"] is True
    assert "SuperSecretToken123" not in response.content.decode()

    url = f"/api/v1/alert-rules/{created['id']}/"
    response = editor.patch(url, {"for_minutes": 20, "enabled": False}, format="json")
    assert response.status_code == 200
    assert response.json()["for_minutes"] == 20 and response.json()["enabled"] is False
    assert response.json()["has_webhook"] is True  # kept when not named
    assert editor.patch(url, {"webhook_url": ""}, format="json").json()["has_webhook"] is False
    _error(editor.put(url, {"name": "x", "kind": "no_data"}, format="json"), 405)

    error = _error(editor.patch(url, {"for_minutes": 0}, format="json"), 400)
    assert "for_minutes" in error["detail"]
    error = _error(editor.patch(url, {"cluster": "nowhere"}, format="json"), 400)
    assert "cluster" in error["detail"]
    error = _error(editor.post("/api/v1/alert-rules/", {"name": "t", "kind": "time_lag"}, format="json"), 400)
    assert "threshold" in error["detail"]
    error = _error(
        editor.post(
            "/api/v1/alert-rules/", {"name": "t", "kind": "group_status", "webhook_url": "file:///etc"}, format="json"
        ),
        400,
    )
    assert "webhook_url" in error["detail"]
    assert AlertRule.objects.count() == 2

    _error(viewer.delete(url), 403)
    assert editor.delete(url).status_code == 204
    _error(editor.delete(url), 404)
    assert AlertRule.objects.count() == 1
    assert Alert.objects.count() == 1


def test_alerts_page_and_api_query_counts_do_not_grow_with_alerts(login, firing, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login("viewer")
    api_client = api("viewer")

    def counts() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as page:
            assert client.get(reverse("monitoring:alerts")).status_code == 200
        with CaptureQueriesContext(connection) as listing:
            assert api_client.get("/api/v1/alerts/").status_code == 200
        return len(page), len(listing)

    few = counts()
    for index in range(12):
        make_lag_state(make_group(firing["cluster"], f"extra-{index}"), status="STOP", total_lag=5000)
    alert_rule_create(name="second rule", kind="group_status", webhook_url=SECRET_URL)
    evaluate_alerts(deliver=False)
    assert Alert.objects.filter(state=Alert.State.FIRING).count() == 13 + 13  # both rules on all 13 groups
    assert counts() == few
