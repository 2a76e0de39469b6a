"""Schemathesis over our OpenAPI document: generated requests to every /api/v1/ operation, as an admin,
never get a server error (and responses match their documented status codes and content types).

The document is generated in-process (drf-spectacular), the calls go straight to the WSGI application.
Bounded: a few examples per operation, so this stays a test and not a fuzzing campaign; operations that
would reach out to other Kafka clusters (test a connection, sync now) are left out.
"""

from __future__ import annotations

import base64

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret-pass!"
MAX_EXAMPLES = 8

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()
schema = schema.exclude(path_regex=r"/(test_connection|sync)/$")


@pytest.fixture
def admin_headers(make_user) -> dict[str, str]:
    make_user("fuzz", "admin", password=PASSWORD)
    return {"Authorization": "Basic " + base64.b64encode(f"fuzz:{PASSWORD}".encode()).decode()}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_operation_answers_with_a_server_error(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])
