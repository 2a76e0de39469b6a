"""Login everywhere, roles on writes, the API's error format, health and metrics: through the real URL conf."""

from __future__ import annotations

import base64
import os

import pytest
from django.db import connection
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

PAGES = ["/", "/catalog/", "/schemas/", "/lineage/", "/monitoring/", "/search/?q=orders"]


def basic(username: str, password: str = "s3cret-pass!") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_pages_render_for_a_logged_in_viewer_with_the_navigation(client, make_user, url):
    client.force_login(make_user("vera", "viewer"))
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Catalog", "Schemas", "Lineage", "Monitoring"):
        assert f">{label}</a>" in html
    assert 'name="q"' in html  # the global search box on every page
    assert "vera" in html


@pytest.mark.django_db
def test_an_unknown_trace_is_a_404_page_with_the_navigation_and_search(client, make_user):
    assert client.get("/traces/abc-123/").status_code == 302  # login first
    client.force_login(make_user("vera", "viewer"))
    response = client.get("/traces/abc-123/")
    assert response.status_code == 404
    html = response.content.decode()
    assert ">Monitoring</a>" in html and 'name="q"' in html
    assert "abc-123" in html


@pytest.mark.django_db
def test_login_with_a_wrong_password_shows_a_form_error_and_logs_nobody_in(client, make_user):
    make_user("alice")
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/catalog/").status_code == 302


@pytest.mark.django_db
def test_login_then_logout(client, make_user):
    make_user("alice")
    response = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass!", "next": "/lineage/"})
    assert response.status_code == 302 and response["Location"] == "/lineage/"
    assert client.get("/lineage/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/lineage/").status_code == 302


@pytest.mark.django_db
def test_search_that_is_too_long_is_a_clear_error_not_a_500(client, make_user):
    client.force_login(make_user())
    response = client.get("/search/", {"q": "x" * 500})
    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()


@pytest.mark.django_db
def test_user_content_in_search_is_escaped(client, make_user):
    client.force_login(make_user())
    response = client.get("/search/", {"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert "&lt;script&gt;" in response.content.decode()


@pytest.mark.django_db
def test_health_and_metrics_answer_without_a_login(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics["Content-Type"].startswith("text/plain")
    assert b"python_info" in metrics.content


@pytest.mark.django_db
def test_api_without_credentials_is_401_in_the_error_format():
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Basic")


@pytest.mark.django_db
def test_api_with_http_basic_and_with_a_session(make_user):
    make_user("ed", "editor")
    api = APIClient()
    response = api.get("/api/v1/me/", HTTP_AUTHORIZATION=basic("ed"))
    assert response.status_code == 200
    assert response.json() == {"username": "ed", "role": "editor", "can_write": True, "token": None}
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=basic("ed", "bad")).status_code == 401

    session = APIClient()
    session.login(username="ed", password="s3cret-pass!")
    assert session.get("/api/v1/me/").json()["role"] == "editor"


@pytest.mark.django_db
def test_openapi_document_and_docs(make_user):
    api = APIClient()
    api.force_authenticate(make_user())
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/me/" in schema.json()["paths"]
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # served from our own static files


class WriteProbe(APIView):
    def get(self, request):
        return Response({"read": True})

    def post(self, request):
        return Response({"written": True}, status=201)


urlpatterns = [path("probe/", WriteProbe.as_view())]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("role", "staff", "expected"),
    [("viewer", False, 403), ("viewer", True, 201), ("editor", False, 201), ("admin", False, 201)],
)
def test_writes_need_the_editor_or_admin_role(make_user, role, staff, expected):
    user = make_user("u", role)
    user.is_staff = staff
    user.save()
    api = APIClient()
    api.force_authenticate(user)
    assert api.get("/probe/").status_code == 200
    response = api.post("/probe/", {}, format="json")
    assert response.status_code == expected
    if expected == 403:
        assert response.json()["error"]["message"] == "Writing needs the editor or admin role."


@pytest.mark.django_db
def test_the_database_is_the_one_database_url_names():
    expected = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == expected


class MissingThing(APIView):
    def get(self, request):
        from django.http import Http404

        raise Http404("No such thing.")


urlpatterns += [path("missing/", MissingThing.as_view())]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_django_404_inside_an_api_view_uses_the_error_format(make_user):
    api = APIClient()
    api.force_authenticate(make_user())
    response = api.get("/missing/")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "No such thing."}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/catalog/topics/default/a%00b/", b"NUL character"),
        ("/schemas/subjects/a%00b/", b"NUL character"),
        ("/api/v1/traces/a%00b", b'"code": "not_found"'),
        ("/registry/subjects/a%00b/versions", b'"error_code": 404'),
    ],
)
def test_a_nul_character_in_a_path_is_a_404_never_a_500(client, make_user, url, body):
    client.force_login(make_user("vera", "viewer"))
    response = client.get(url)
    assert response.status_code == 404
    assert body in response.content
