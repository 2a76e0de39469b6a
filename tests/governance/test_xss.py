"""Stored XSS: markup in every Markdown and free-text field comes back inert on every page and API response
that shows it (escaped as text, or sanitized Markdown), and forms enforce CSRF."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.test import Client

from catalog.models import DeclaredRelation
from catalog.services import documentation
from monitoring.models import AlertRule
from schemas import services as registry
from tests.factories import make_cluster, make_group, make_topic
from tests.monitoring.test_trace_pages import make_chain

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"
PAYLOAD = f"{SCRIPT} {IMG} {LINK}"


class _Markup(HTMLParser):
    """Collects what would run in a browser: script bodies, event-handler attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") and "alert" in value:
                self.found.append(f"<{tag} {name}={value}>")
            if name in ("href", "src", "action", "formaction") and value.startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        # An injected <script> is a script element whose code is the payload itself; a payload inside a
        # page's own script (Plotly's figure JSON) is an escaped string literal and inert.
        if self._in_script and data.strip() in ('alert("xss")', "alert(1)"):
            self.found.append(f"<script>{data.strip()}")


@pytest.fixture
def poisoned(db):
    cluster = make_cluster(f"c{SCRIPT[:7]}".replace("<", "").replace(">", ""))
    domain = documentation.domain_create(name=f"Sales {SCRIPT}", description=PAYLOAD)
    team = documentation.team_create(name=f"Team {IMG}", description=PAYLOAD, contact_channel=SCRIPT, domain=domain)
    service = documentation.service_create(name=f"svc {SCRIPT}", description=PAYLOAD, owner_team=team, domain=domain)
    topic = make_topic(cluster, "shop.xss")
    documentation.topic_update_documentation(topic=topic, description=PAYLOAD, owner_team=team, domain=domain)
    group = make_group(cluster, f"group-{SCRIPT}", topics=[topic])
    documentation.consumer_group_update_documentation(group=group, description=PAYLOAD, service=service)
    subject = "shop.xss-value"
    avro = {
        "type": "record",
        "name": "Xss",
        "doc": PAYLOAD,
        "fields": [{"name": "note", "type": "string", "doc": PAYLOAD}],
    }
    registry.subject_register_version(subject=subject, schema_text=json.dumps(avro))
    event_type = documentation.event_type_create(
        name=f"Evil{IMG}",
        summary=SCRIPT,
        business_meaning=PAYLOAD,
        domain=domain,
        owner_team=team,
        topic=topic,
        schema_subject=subject,
        example_payload=json.dumps({"note": SCRIPT}),
    )
    DeclaredRelation.objects.create(service=service, direction="consumes", event_type=event_type)
    # What arrives from Kafka is user content too: keys, payloads, headers, error reasons.
    make_chain(
        cluster,
        "order-xss",
        [
            (topic, f"Evil{IMG}", 0, {"key": SCRIPT, "payload_excerpt": json.dumps({"note": SCRIPT})}),
            (topic, "Dead", 50, {"producer": SCRIPT, "error_reason": IMG, "is_dead_letter": True}),
        ],
    )
    AlertRule.objects.create(name=f"rule {SCRIPT}", description=PAYLOAD, kind=AlertRule.Kind.choices[0][0], threshold=1)
    return {"domain": domain, "team": team, "service": service, "topic": topic, "group": group, "event": event_type}


def assert_inert(html: str, where: str) -> None:
    parser = _Markup()
    parser.feed(html)
    assert parser.found == [], f"live markup reached {where}: {parser.found}"


def test_every_page_that_shows_user_text_escapes_or_sanitizes_it(client, make_user, poisoned):
    make_user("vera", "viewer")
    client.login(username="vera", password="s3cret-pass!")
    pages = [
        "/",
        "/catalog/",
        "/catalog/domains/",
        f"/catalog/domains/{poisoned['domain'].slug}/",
        "/catalog/teams/",
        f"/catalog/teams/{poisoned['team'].slug}/",
        "/catalog/services/",
        f"/catalog/services/{poisoned['service'].slug}/",
        "/catalog/topics/",
        poisoned["topic"].get_absolute_url() if hasattr(poisoned["topic"], "get_absolute_url") else None,
        "/catalog/event-types/",
        f"/catalog/event-types/{poisoned['event'].slug}/",
        "/catalog/consumer-groups/",
        "/schemas/",
        "/schemas/subjects/shop.xss-value/",
        "/search/?q=xss",
        "/search/?q=" + SCRIPT,
        "/lineage/",
        "/governance/audit-log/",
        "/traces/order-xss/",
        "/monitoring/",
        "/monitoring/dead-letters/",
        "/monitoring/alerts/",
        f"/monitoring/alerts/rules/{AlertRule.objects.get().pk}/",
    ]
    shown = 0
    for url in filter(None, pages):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        assert_inert(html, url)
        shown += "&lt;script&gt;" in html or "alert" in html
    assert shown >= 10  # the payloads are really on these pages, as text


def test_api_responses_are_json_and_never_html(make_user, poisoned):
    from rest_framework.test import APIClient

    make_user("vera", "viewer")
    api = APIClient()
    api.login(username="vera", password="s3cret-pass!")
    for url in ("/api/v1/services/", "/api/v1/domains/", "/api/v1/teams/", "/api/v1/event-types/", "/api/v1/topics/"):
        response = api.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
        assert response["X-Content-Type-Options"] == "nosniff"
        values = [str(value) for row in response.json()["results"] for value in row.values()]
        assert any(SCRIPT in value for value in values)  # stored as given; JSON is data, not markup


def test_forms_enforce_csrf(make_user, poisoned):
    make_user("erin", "editor")
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="erin", password="s3cret-pass!")
    edit = f"/catalog/services/{poisoned['service'].slug}/edit/"
    assert strict.post(edit, {"name": "renamed"}).status_code == 403
    assert strict.post("/accounts/tokens/", {"name": "t", "scope": "read"}).status_code == 403
    assert strict.post("/governance/policies/", {}).status_code == 403
    poisoned["service"].refresh_from_db()
    assert poisoned["service"].name.startswith("svc")
