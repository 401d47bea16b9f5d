"""The OpenAPI document: valid, complete, and served with its reference page from our own files."""

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLResolver, get_resolver

pytestmark = pytest.mark.django_db


def api_routes() -> set[str]:
    """Every route under api/v1/ but the schema's own pages, as the document writes them."""
    (api,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and str(entry.pattern) == "api/v1/"
    ]
    routes = set()
    for entry in api.url_patterns:
        route = str(entry.pattern)
        if route not in {"schema/", "docs/", "redoc/"}:
            routes.add("/api/v1/" + route.replace("<int:vm_id>", "{vm_id}").replace("<int:change_id>", "{change_id}"))
    return routes


def test_the_document_is_valid_and_describes_every_route(tmp_path):
    # --validate checks it against the OpenAPI 3 specification; --fail-on-warn refuses any guess.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert set(schema["paths"]) == api_routes()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert {"401", "403", "429"} <= set(responses), (path, method)
            assert responses["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Errors"}
            assert operation.get("summary"), (path, method)


def test_the_document_and_its_reference_page_are_served_without_a_cdn(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Hikube GPU Portal API"
    page = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in page
    assert 'src="http' not in page and 'href="http' not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
