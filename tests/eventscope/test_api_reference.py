"""The committed API reference (docs/api/openapi.yaml) is what the code generates: it cannot go stale.

`make api-docs` (manage.py spectacular) writes it; this test renders the same document in-process and compares
the parsed YAML, so only a real difference in the API (a path, a field, a parameter) fails it.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"


def test_the_committed_openapi_document_matches_the_code():
    assert REFERENCE.exists(), "docs/api/openapi.yaml is missing: run `make api-docs`"
    generated = yaml.safe_load(OpenApiYamlRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    committed = yaml.safe_load(REFERENCE.read_text())

    stale = sorted(set(generated["paths"]) ^ set(committed["paths"]))
    assert not stale, f"docs/api/openapi.yaml is out of date (paths {stale}): run `make api-docs` and commit it"
    changed = sorted(
        path for path in generated["paths"] if generated["paths"][path] != committed["paths"].get(path)
    ) + sorted(
        f"components.schemas.{name}"
        for name in set(generated["components"]["schemas"]) | set(committed["components"]["schemas"])
        if generated["components"]["schemas"].get(name) != committed["components"]["schemas"].get(name)
    )
    assert not changed, f"docs/api/openapi.yaml is out of date ({changed[:10]}): run `make api-docs` and commit it"
    assert generated == committed, "docs/api/openapi.yaml is out of date: run `make api-docs` and commit it"


def test_the_reference_documents_the_public_contracts():
    committed = yaml.safe_load(REFERENCE.read_text())
    assert committed["info"]["title"] == "Eventscope API"
    for path, method in [
        ("/api/v1/traces/{correlation_id}", "get"),
        ("/api/v1/impact/", "post"),
        ("/api/v1/consumer-groups/", "get"),
        ("/api/v1/consumer-groups/{group_id}/lag/", "get"),
        ("/api/v1/event-types/", "get"),
    ]:
        assert method in committed["paths"].get(path, {}), f"{method.upper()} {path} is not in the API reference"
