"""The API's reference page draws itself from the portal's own static files (no CDN)."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_the_operations(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs/")
    page.locator(".swagger-ui .info .title", has_text="Hikube GPU Portal API").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/vms/{vm_id}/gpus/").first.wait_for()
    assert page.locator(".opblock").count() >= 20
    assert all(url.startswith(live_server.url) for url in requested), [
        u for u in requested if not u.startswith(live_server.url)
    ]
